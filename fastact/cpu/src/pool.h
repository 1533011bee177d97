/* fastact's thread pool and its cost model: one per process.
 *
 * fa_parallel_for(fn, ctx, n_tasks, grain, n_threads) runs fn(ctx, b, e) over
 * [0, n_tasks) in ranges of `grain` tasks, on the calling thread and up to
 * n_threads - 1 pool workers, and returns when every range is done.  Ranges
 * are handed out one at a time from a shared counter, so a worker that is
 * late (asleep, or preempted on a busy machine) takes fewer; the caller never
 * waits for a worker that has not joined.  Callers make a task's result
 * independent of the thread that runs it, so results do not depend on the
 * thread count or on timing.
 *
 * Calls run inline (serially, on the calling thread) when the pool is busy
 * with another caller's job, when made from a pool worker (nested), or when
 * n_threads is 1: a process that never asks for two threads starts none.
 *
 * Workers spin for a short while after a job (a burst of calls finds them
 * awake: a hand-off costs about a cache-line round trip), then sleep on a
 * condition variable (an idle pool costs nothing).  A forked child starts
 * with no workers (pthread_atfork) and creates new ones on first use.
 *
 * The cost model (fa_threads_for) picks the thread count from two measured
 * quantities: the pool's round trip (timed on first need, again now and
 * then, and corrected by what each parallel job shows of it: fa_learn) and
 * the caller's single-thread cost per unit of work (an fa_cost, updated
 * from the caller's own serial runs).  See docs/design.md, "Threads".
 *
 * One translation unit (cpu/ufunc.pyx) defines FA_POOL_IMPL and owns the
 * pool; it exports the functions in a capsule, which the other extensions
 * load with fa_pool_import(), so that all of them share one pool.
 */
#ifndef FA_POOL_H
#define FA_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef void (*fa_task_fn)(void *ctx, ptrdiff_t begin, ptrdiff_t end);

/* a caller's measured single-thread cost: best ns per unit of work over
 * `samples` timed serial runs (fields read and written without locks: a
 * torn or stale value only changes one decision, never a result) */
typedef struct {
    double ns;
    int samples;
    double units; /* the size of the call `ns` was measured on */
} fa_cost;

typedef struct {
    int version;
    void (*parallel_for)(fa_task_fn fn, void *ctx, ptrdiff_t n_tasks, ptrdiff_t grain,
                         int n_threads);
    int (*threads_for)(fa_cost *cost, double units, int max_threads);
    void (*run)(fa_cost *cost, double units, fa_task_fn fn, void *ctx, ptrdiff_t n_tasks,
                ptrdiff_t grain, int max_threads);
    double (*now_ns)(void);
    void (*record)(fa_cost *cost, double units, double ns);
    double (*task_ns)(void);
} fa_pool_api;

#define FA_POOL_API_VERSION 1

#ifdef FA_POOL_IMPL
/* ------------------------------------------------------------------ impl */

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FA_PAUSE() _mm_pause()
#define FA_HAVE_CSR 1
#else
#define FA_PAUSE() ((void)0)
#define FA_HAVE_CSR 0
#endif

#define FA_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define FA_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* How long a worker keeps polling for the next job before it sleeps, and
 * how long a caller polls for its workers to finish before it sleeps.  Not
 * a speed tuning: it bounds the CPU an idle worker burns after each call,
 * and covers the gap between the calls of a loop (microseconds). */
#define FA_SPIN_NS 50000.0
/* No hand-off between cores takes less than this: work below it stays on
 * the calling thread without the round trip being measured. */
#define FA_MIN_PARALLEL_NS 1000.0
/* serial runs timed before the model trusts a cost (the first ones carry
 * page faults and cold caches) */
#define FA_MIN_SAMPLES 3
#define FA_MAX_WORKERS 255
/* the round trip is measured again when a decision needs it this long after;
 * sooner (from FA_RT_MIN_AGE_NS on, doubling) while the last measurement is
 * well above the best one of the process */
#define FA_RT_MAX_AGE_NS 2e9
#define FA_RT_MIN_AGE_NS 2e7
/* a process's first measurements are trusted for FA_RT_MIN_AGE_NS, doubling:
 * the first of all sets the best, and may itself be taken on busy cores */
#define FA_RT_YOUNG 4
/* parallel jobs measure the hand-off too (see fa_learn): this many in a row
 * well above the stored round trip replace it with their best */
#define FA_JOB_WINDOW 8
/* a call is large when its work is this many round trips at the best of the
 * process (capped at FA_PROBE_RT_CAP: a process that never saw a quiet
 * moment): a high round trip keeps a large call serial for at most
 * FA_RT_MIN_AGE_NS before one is split to look again (see fa_probe) */
#define FA_PROBE_RTS 32.0
#define FA_PROBE_RT_CAP 4000.0
/* A sleeping worker that a job of this long did not bring counts as held
 * off (see fa_learn); a shorter job says nothing.  Waking a sleeping thread
 * is a wake-up of an idle CPU, and in a virtual machine that takes far
 * longer than a hand-off between polling threads: 30-90 us after 10 ms of
 * idleness on a 2-vCPU KVM guest, 0.5-0.8 ms or more after 100 ms.  Every
 * first call after a pause then ran lonely; counted, eight of them made the
 * round trip 0.25 ms, which kept the back-to-back calls after them serial
 * (their worker polling), and the probes that should have corrected it came
 * first after each pause again (1M float32 silu 256 us instead of 140). */
#define FA_WAKE_NS 2e6
/* A job shows the best round trip stale (see fa_learn) when its hand-off,
 * twice the join time, is below best / FA_STALE_WARM (a worker that was
 * polling: a calibration of a quiet machine stays within a few join times)
 * or below best / FA_STALE_WAKE (a sleeping worker's wake-up). */
#define FA_STALE_WARM 8.0
#define FA_STALE_WAKE 2.0

typedef struct {
    fa_task_fn fn;
    void *ctx;
    ptrdiff_t n_tasks, grain;
    int slots;           /* the threads the tasks were divided among */
    int open;            /* workers may still join (under mu) */
    int max_join, joined;
    int active;          /* atomic: workers inside the job */
    unsigned csr;        /* the caller's SSE control word */
    double t_pub;        /* when the job was published */
    double join_ns;      /* publish to the first worker's join; 0 = none joined */
} fa_job;

static struct fa_pool_state_s {
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    unsigned long gen;   /* atomic: bumped per published job */
    int owner;           /* atomic: a caller holds the pool */
    int n_workers, sleepers, caller_sleeping;
    fa_job job;
    double rt_ns;        /* measured round trip; 0 = not yet */
    double rt_at;        /* when it was measured */
    double rt_best;      /* the smallest measured; 0 = none yet */
    double rt_age;       /* how long rt_ns is trusted */
    int rt_high;         /* rt_ns is well above rt_best */
    int rt_count;        /* measurements so far */
    int calibrating;
    double job_min;      /* the smallest hand-off of the jobs since the last note */
    int job_n;           /* how many jobs that is */
    double probe_at;     /* when a large call was last split to probe (0 = may now) */
    /* counters for tests and diagnostics */
    long jobs, worker_tasks;
    long calibrations;   /* round trip measurements */
    long lonely;         /* parallel jobs that no worker joined */
    double join_ns;      /* the last parallel job's join latency (0 = none joined) */
    int stop_generation; /* bumped by fork: old workers never existed */
} fa_pool_state = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                   PTHREAD_COND_INITIALIZER};

static __thread int fa_tls_worker;
static __thread int fa_tls_calibrating; /* its jobs are not counted */

/* the round trip is written once and read by every thread */
static double fa_get_rt(void) {
    double v;
    __atomic_load(&fa_pool_state.rt_ns, &v, __ATOMIC_ACQUIRE);
    return v;
}

static void fa_set_rt(double v) { __atomic_store(&fa_pool_state.rt_ns, &v, __ATOMIC_RELEASE); }
static int fa_max_threads = 1;
static int fa_force_split;
static pthread_once_t fa_atfork_once = PTHREAD_ONCE_INIT;

static double fa_now_ns_impl(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The tasks of a job in one contiguous range per thread (slot 0 the caller's,
 * then the workers' in the order they join), each handed out from its front
 * by its own counter: a thread runs its own range, then takes what is left
 * of the others'.  A call over the same arrays then gives each core the same
 * part every time, which it still holds in its caches (a 1M float32 relu's
 * 8 MB on two cores: 47 us every time, where tasks handed out in turn from
 * one counter took 50 or 82 us depending on the process); a thread that
 * joins late, or not at all, leaves its range to the others task by task. */
typedef struct {
    ptrdiff_t next; /* atomic: first task of the range not handed out */
    ptrdiff_t end;
    char pad[64 - 2 * sizeof(ptrdiff_t)];
} fa_slot;

static fa_slot fa_slots[FA_MAX_WORKERS + 1];

static void fa_run_tasks(fa_job *j, int slot) {
    for (int v = 0; v < j->slots; v++) {
        fa_slot *s = &fa_slots[(slot + v) % j->slots];
        ptrdiff_t b;
        while ((b = __atomic_fetch_add(&s->next, j->grain, __ATOMIC_RELAXED)) < s->end) {
            ptrdiff_t e = b + j->grain < s->end ? b + j->grain : s->end;
            j->fn(j->ctx, b, e);
            if (fa_tls_worker)
                __atomic_fetch_add(&fa_pool_state.worker_tasks, 1, __ATOMIC_RELAXED);
        }
    }
}

static void *fa_worker(void *arg) {
    unsigned long seen = (unsigned long)(uintptr_t)arg;
    fa_tls_worker = 1;
    for (;;) {
        /* poll, then sleep, until a new job is published */
        double t0 = 0.0;
        unsigned spins = 0;
        while (FA_LOAD(&fa_pool_state.gen) == seen) {
            FA_PAUSE();
            if ((++spins & 255) == 0) {
                double t = fa_now_ns_impl();
                if (t0 == 0.0)
                    t0 = t;
                else if (t - t0 > FA_SPIN_NS)
                    break;
                /* a worker that shares its core (with the caller, on a busy
                 * machine) gives it back: polling would take its time */
                sched_yield();
            }
        }
        pthread_mutex_lock(&fa_pool_state.mu);
        while (FA_LOAD(&fa_pool_state.gen) == seen) {
            fa_pool_state.sleepers++;
            pthread_cond_wait(&fa_pool_state.work_cv, &fa_pool_state.mu);
            fa_pool_state.sleepers--;
        }
        seen = FA_LOAD(&fa_pool_state.gen);
        fa_job *j = &fa_pool_state.job;
        int join = j->open && j->joined < j->max_join;
        int slot = 0;
        if (join) {
            if (j->joined == 0)
                j->join_ns = fa_now_ns_impl() - j->t_pub;
            slot = ++j->joined;
            __atomic_fetch_add(&j->active, 1, __ATOMIC_SEQ_CST);
        }
        pthread_mutex_unlock(&fa_pool_state.mu);
        if (!join)
            continue;
#if FA_HAVE_CSR
        if ((_mm_getcsr() & ~0x3Fu) != j->csr)
            _mm_setcsr(j->csr);
#endif
        fa_run_tasks(j, slot);
        if (__atomic_sub_fetch(&j->active, 1, __ATOMIC_SEQ_CST) == 0) {
            pthread_mutex_lock(&fa_pool_state.mu);
            if (fa_pool_state.caller_sleeping)
                pthread_cond_signal(&fa_pool_state.done_cv);
            pthread_mutex_unlock(&fa_pool_state.mu);
        }
    }
    return NULL;
}

static void fa_after_fork_child(void) {
    /* the workers (and any caller that held the pool) stayed in the parent */
    pthread_mutex_init(&fa_pool_state.mu, NULL);
    pthread_cond_init(&fa_pool_state.work_cv, NULL);
    pthread_cond_init(&fa_pool_state.done_cv, NULL);
    fa_pool_state.n_workers = 0;
    fa_pool_state.sleepers = 0;
    fa_pool_state.caller_sleeping = 0;
    fa_pool_state.owner = 0;
    fa_pool_state.calibrating = 0;
    fa_pool_state.job.open = 0;
    fa_pool_state.job.active = 0;
}

static void fa_register_atfork(void) { pthread_atfork(NULL, NULL, fa_after_fork_child); }

/* start workers up to `want` (called by the owner); returns how many exist */
static int fa_ensure_workers(int want) {
    if (want > FA_MAX_WORKERS)
        want = FA_MAX_WORKERS;
    if (fa_pool_state.n_workers >= want)
        return fa_pool_state.n_workers;
    pthread_once(&fa_atfork_once, fa_register_atfork);
    sigset_t all, old;
    sigfillset(&all);
    /* workers never take signals: Python handles them on the main thread */
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    unsigned long gen = FA_LOAD(&fa_pool_state.gen);
    while (fa_pool_state.n_workers < want) {
        pthread_t t;
        if (pthread_create(&t, &attr, fa_worker, (void *)(uintptr_t)gen) != 0)
            break;
        fa_pool_state.n_workers++;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return fa_pool_state.n_workers;
}

static void fa_learn(int warm, int joined, double join_ns, double took);

static void fa_parallel_for_impl(fa_task_fn fn, void *ctx, ptrdiff_t n_tasks, ptrdiff_t grain,
                                 int n_threads) {
    if (n_tasks <= 0)
        return;
    if (grain < 1)
        grain = 1;
    ptrdiff_t ranges = (n_tasks + grain - 1) / grain;
    if (n_threads > ranges)
        n_threads = (int)ranges;
    int free_ = 0;
    if (n_threads <= 1 || fa_tls_worker ||
        !__atomic_compare_exchange_n(&fa_pool_state.owner, &free_, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED)) {
        fn(ctx, 0, n_tasks);
        return;
    }
    int workers = fa_ensure_workers(n_threads - 1);
    if (workers == 0) {
        FA_STORE(&fa_pool_state.owner, 0);
        fn(ctx, 0, n_tasks);
        return;
    }
    fa_job *j = &fa_pool_state.job;
    pthread_mutex_lock(&fa_pool_state.mu);
    j->fn = fn;
    j->ctx = ctx;
    j->n_tasks = n_tasks;
    j->grain = grain;
    /* ranges of whole grains, one per thread that may take part */
    j->slots = n_threads;
    for (int i = 0; i < n_threads; i++) {
        fa_slots[i].next = (ranges * i / n_threads) * grain;
        fa_slots[i].end = i + 1 < n_threads ? (ranges * (i + 1) / n_threads) * grain : n_tasks;
    }
    j->open = 1;
    j->max_join = n_threads - 1;
    j->joined = 0;
    j->active = 0;
    j->join_ns = 0.0;
#if FA_HAVE_CSR
    j->csr = _mm_getcsr() & ~0x3Fu;
#endif
    j->t_pub = fa_now_ns_impl();
    if (!fa_tls_calibrating)
        fa_pool_state.jobs++;
    __atomic_add_fetch(&fa_pool_state.gen, 1, __ATOMIC_RELEASE);
    int wake = fa_pool_state.sleepers < j->max_join ? fa_pool_state.sleepers : j->max_join;
    int warm = wake == 0; /* every worker it may take was polling */
    for (int i = 0; i < wake; i++)
        pthread_cond_signal(&fa_pool_state.work_cv);
    pthread_mutex_unlock(&fa_pool_state.mu);

    fa_run_tasks(j, 0);

    pthread_mutex_lock(&fa_pool_state.mu);
    j->open = 0;
    int joined = j->joined;
    double join_ns = j->join_ns;
    pthread_mutex_unlock(&fa_pool_state.mu);
    if (!fa_tls_calibrating) {
        fa_pool_state.join_ns = joined ? join_ns : 0.0;
        fa_pool_state.lonely += !joined;
        fa_learn(warm, joined, join_ns, fa_now_ns_impl() - j->t_pub);
    }
    if (__atomic_load_n(&j->active, __ATOMIC_SEQ_CST)) {
        double t0 = fa_now_ns_impl();
        unsigned spins = 0;
        while (__atomic_load_n(&j->active, __ATOMIC_SEQ_CST)) {
            FA_PAUSE();
            if ((++spins & 255) == 0) {
                if (fa_now_ns_impl() - t0 > FA_SPIN_NS)
                    break;
                sched_yield(); /* to a worker on this core, as above */
            }
        }
        pthread_mutex_lock(&fa_pool_state.mu);
        fa_pool_state.caller_sleeping = 1;
        while (__atomic_load_n(&j->active, __ATOMIC_SEQ_CST))
            pthread_cond_wait(&fa_pool_state.done_cv, &fa_pool_state.mu);
        fa_pool_state.caller_sleeping = 0;
        pthread_mutex_unlock(&fa_pool_state.mu);
    }
    FA_STORE(&fa_pool_state.owner, 0);
}

/* -- calibration: the round trip of a job one worker must take part in */

/* Store a measured round trip and how long to trust it.  Measured while
 * something else held the cores (another process's threads spinning after
 * their own call, say), the round trip would keep calls serial long after
 * that ended: one well above the best of the process is looked at again
 * soon, backing off while it stays high.  The best itself is only known
 * after a few measurements, so the first ones are trusted briefly too. */
static void fa_note_rt_as(double rt, int measured) {
    fa_set_rt(rt);
    fa_pool_state.rt_at = fa_now_ns_impl();
    if (measured && (fa_pool_state.rt_best <= 0.0 || rt < fa_pool_state.rt_best))
        fa_pool_state.rt_best = rt;
    int high = rt > 2.0 * fa_pool_state.rt_best;
    double age = fa_pool_state.rt_high ? 2.0 * fa_pool_state.rt_age : FA_RT_MIN_AGE_NS;
    if (!high)
        age = FA_RT_MAX_AGE_NS;
    if (fa_pool_state.rt_count < FA_RT_YOUNG) {
        double young = FA_RT_MIN_AGE_NS * (double)(1 << fa_pool_state.rt_count++);
        if (young < age)
            age = young;
    }
    fa_pool_state.rt_age = age > FA_RT_MAX_AGE_NS ? FA_RT_MAX_AGE_NS : age;
    fa_pool_state.rt_high = high;
}

static void fa_note_rt(double rt) { fa_note_rt_as(rt, 1); }

typedef struct {
    int arrived;
    int worker; /* a worker ran a task */
} fa_calib;

static void fa_calib_task(void *ctx, ptrdiff_t b, ptrdiff_t e) {
    fa_calib *c = (fa_calib *)ctx;
    __atomic_add_fetch(&c->arrived, (int)(e - b), __ATOMIC_SEQ_CST);
    /* wait (boundedly) for the other side: then the job measured a real
     * hand-off rather than the caller running both tasks */
    double t0 = fa_now_ns_impl();
    unsigned spins = 0;
    while (__atomic_load_n(&c->arrived, __ATOMIC_SEQ_CST) < 2) {
        FA_PAUSE();
        if ((++spins & 255) == 0 && fa_now_ns_impl() - t0 > FA_SPIN_NS)
            break;
    }
    if (fa_tls_worker)
        c->worker = 1;
}

static void fa_calibrate(void) {
    fa_pool_state.calibrations++;
    fa_tls_calibrating = 1;
    double best = 1e300;
    int ok = 0;
    for (int i = 0; i < 16 && ok < 6; i++) {
        fa_calib c = {0, 0};
        double t0 = fa_now_ns_impl();
        fa_parallel_for_impl(fa_calib_task, &c, 2, 1, 2);
        double t = fa_now_ns_impl() - t0;
        /* the first trials also wake the worker */
        if (c.worker && i >= 2) {
            ok++;
            if (t < best)
                best = t;
        }
    }
    fa_tls_calibrating = 0;
    /* no worker joined in time (a saturated machine): parallel calls would
     * wait as long, so count a full spin as the price; not a hand-off seen,
     * so never the best of the process (that would make a busy start the
     * measure of a quiet machine) */
    if (best < 1e300)
        fa_note_rt(best);
    else
        fa_note_rt_as(FA_SPIN_NS, 0);
}

static double fa_round_trip(void) {
    double rt = fa_get_rt();
    /* measured again now and then: how busy the machine is changes (a
     * probe, fa_probe, looks again as a calibration would) */
    double at = fa_pool_state.rt_at;
    if (at < fa_pool_state.probe_at)
        at = fa_pool_state.probe_at;
    if (rt > 0.0 && fa_now_ns_impl() - at < fa_pool_state.rt_age)
        return rt;
    int no = 0;
    if (!__atomic_compare_exchange_n(&fa_pool_state.calibrating, &no, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return rt; /* another thread is measuring it (0 the first time: serial) */
    fa_calibrate();
    __atomic_store_n(&fa_pool_state.calibrating, 0, __ATOMIC_RELEASE);
    return fa_get_rt();
}

/* What a parallel job tells of the hand-off: a worker that was polling and
 * joined after join_ns took about twice that (there and back, as a
 * calibration counts it); one that was polling and did not join within the
 * job (the caller ran every task, in `took`) was held off at least that
 * long, as was a sleeping one that FA_WAKE_NS did not bring.  A sleeping
 * worker that joined (unless even that was fast), or was not woken within
 * a shorter job, says nothing of the next job, which finds it polling.
 *
 * Hand-offs faster than the stored round trip replace it at once, down to
 * the best of the process (one far below that shows the best itself stale,
 * FA_STALE_WARM): calls stay serial only while the cores are busy.  Slower
 * ones replace it only when FA_JOB_WINDOW jobs in a row were all well above
 * it (the best of them, as a calibration keeps its best trial): one late
 * worker is noise, a run of them is a busy machine, and lonely jobs cost
 * the caller their hand-off for nothing. */
static void fa_learn(int warm, int joined, double join_ns, double took) {
    double rt = fa_get_rt();
    if (rt <= 0.0)
        return; /* not measured yet (split calls forced by a test) */
    double obs = joined ? 2.0 * join_ns : took;
    if (!warm && (joined ? obs >= 0.5 * rt : took <= FA_WAKE_NS)) {
        fa_pool_state.probe_at = 0.0; /* a probe that saw nothing: look again */
        return;
    }
    double best = fa_pool_state.rt_best;
    if (joined && best > 0.0 && obs * (warm ? FA_STALE_WARM : FA_STALE_WAKE) < best) {
        /* The best of the process is stale: a polling worker joined in a
         * small part of it, or even a sleeping one's wake-up (slower than
         * any hand-off) took less than half.  The first calibration of a
         * process sets the best and only a lower measurement replaces it;
         * a job's join is not one (it never goes below the best, below),
         * and the probes find the worker asleep.  Taken at a busy moment
         * (the host holding the other vCPU, most likely), it stood at
         * 213-226 us in 2 of 16 fresh processes on a 2-vCPU KVM guest, and
         * every large call of those processes stayed serial for good:
         * 1024x1024 float32 softmax' 540-820 us instead of 190-270.
         * Dropped, the job's value stands as a bound and the next decision
         * calibrates. */
        fa_pool_state.rt_best = 0.0;
        fa_note_rt_as(obs, 0);
        /* the next decision measures; its own trust starts afresh (a back-off
         * doubled from 0 would recalibrate every call of a saturated machine) */
        fa_pool_state.rt_age = 0.0;
        fa_pool_state.rt_high = 0;
        fa_pool_state.job_n = 0;
        return;
    }
    if (obs < 0.5 * rt) {
        /* (best: 0 while none was seen).  A sleeping worker's join is its
         * wake-up, a bound on the hand-off but not one: it never becomes the
         * best of the process (a 65 us wake-up taken for the best, after a
         * start on busy cores, kept 1M-element calls serial for good) */
        fa_note_rt_as(obs > best ? obs : best, warm);
        fa_pool_state.job_n = 0;
        return;
    }
    if (fa_pool_state.job_n == 0 || obs < fa_pool_state.job_min)
        fa_pool_state.job_min = obs;
    if (++fa_pool_state.job_n < FA_JOB_WINDOW)
        return;
    if (fa_pool_state.job_min > 2.0 * rt) /* a bound, not a hand-off seen */
        fa_note_rt_as(fa_pool_state.job_min, 0);
    fa_pool_state.job_n = 0;
}

/* Whether a call that the stored round trip keeps serial should be split
 * anyway, to look at the hand-off again: a large call (work of many round
 * trips at the best of the process), once the round trip has been high for
 * FA_RT_MIN_AGE_NS and no probe was made since.  A split call never waits
 * for a worker that does not join, so a probe on a busy machine costs little;
 * serial, a large call pays half its time for each hand-off not looked at. */
static double fa_probe_rt(void) {
    double best = fa_pool_state.rt_best;
    return best > 0.0 && best < FA_PROBE_RT_CAP ? best : FA_PROBE_RT_CAP;
}

static int fa_probe(double W, double rt) {
    double ref = fa_probe_rt();
    if (rt <= 0.0 || rt <= 2.0 * ref || W < FA_PROBE_RTS * ref)
        return 0;
    double now = fa_now_ns_impl(), last = fa_pool_state.probe_at;
    if (last < fa_pool_state.rt_at)
        last = fa_pool_state.rt_at;
    if (now - last < FA_RT_MIN_AGE_NS)
        return 0;
    fa_pool_state.probe_at = now;
    return 1;
}

/* Threads for `units` of work whose serial cost is `cost`: k threads take
 * about W/k + rt*(k-1) (W the serial time, rt the measured round trip); a
 * thread is added while it saves at least twice its hand-off, i.e. while
 * W/k - W/(k+1) >= 2*rt. */
static int fa_threads_for_impl(fa_cost *cost, double units, int max_threads) {
    if (max_threads <= 1 || fa_tls_worker)
        return 1;
    if (fa_force_split)
        return max_threads;
    if (cost->samples < FA_MIN_SAMPLES)
        return 1;
    double W = units * cost->ns;
    if (W < 4.0 * FA_MIN_PARALLEL_NS)
        return 1;
    double rt = fa_get_rt();
    if (fa_probe(W, rt))
        rt = fa_probe_rt(); /* split as a quiet machine would */
    else
        rt = fa_round_trip();
    if (rt <= 0.0)
        return 1;
    int k = 1;
    while (k < max_threads && W >= 2.0 * rt * k * (k + 1))
        k++;
    return k;
}

static void fa_record_impl(fa_cost *cost, double units, double ns) {
    if (units <= 0)
        return;
    double per = ns / units;
    /* The cost per unit of a call that fits in cache says little about one
     * that streams from memory (a cheap kernel is then bandwidth-bound and
     * several times slower per element), and the decisions that matter are
     * about large calls: a call four times larger than the one measured
     * replaces it, a call four times smaller only counts as a sample, and
     * calls of a similar size keep the best. */
    if (cost->samples == 0 || units >= 4.0 * cost->units) {
        cost->ns = per;
        cost->units = units;
    } else if (units * 4.0 > cost->units && per < cost->ns) {
        cost->ns = per;
    }
    if (cost->samples < FA_MIN_SAMPLES)
        cost->samples++;
}

/* A split call's time bounds the serial cost too: k threads took `ns`, so
 * the work costs at most about k ns serially (less where the split lost time
 * to hand-offs or shared bandwidth).  A serial sample taken while the caller
 * was preempted (a busy machine: a test runner on every CPU) can inflate
 * cost->ns many times over, and then every call splits, small ones too, and
 * none is timed serially again to mend it; this brings it back down.  It
 * only ever lowers the estimate, and takes a call of any size (unlike
 * fa_record_impl, which keeps the cost of the largest calls): a smaller
 * call's lower cost per element (in cache) can only make the model split a
 * little less near its threshold, where the large calls never are, while
 * the call that mends an inflated cost is often a smaller one. */
static void fa_record_split_impl(fa_cost *cost, double units, int k, double ns) {
    if (units <= 0 || cost->samples == 0)
        return;
    double per = (double)k * ns / units;
    if (per < cost->ns)
        cost->ns = per;
}

/* Serial runs are timed while the cost is unknown and near the decision
 * point; far below it (small calls) the clock is not read at all. */
static int fa_worth_timing(const fa_cost *cost, double units) {
    if (fa_tls_worker || units < 4096)
        return 0;
    return cost->samples < FA_MIN_SAMPLES || units * cost->ns >= FA_MIN_PARALLEL_NS ||
           units >= 4.0 * cost->units;
}

/* A task of a split call should take a few round trips: its hand-out (one
 * atomic add) is then negligible, and there are still several tasks per
 * thread for the ones that start late to even out. */
static double fa_task_ns_impl(void) {
    double rt = fa_get_rt(), best = fa_pool_state.rt_best;
    /* with a high round trip (a probe), short tasks: a worker that joins
     * late then keeps the caller waiting for little */
    if (best > 0.0 && best < rt)
        rt = 2.0 * best < rt ? 2.0 * best : rt;
    return 4.0 * (rt > 0.0 ? rt : FA_MIN_PARALLEL_NS);
}

static void fa_run_impl(fa_cost *cost, double units, fa_task_fn fn, void *ctx,
                        ptrdiff_t n_tasks, ptrdiff_t grain, int max_threads) {
    int k = fa_threads_for_impl(cost, units, max_threads);
    if (k > 1) {
        double t0 = fa_now_ns_impl();
        fa_parallel_for_impl(fn, ctx, n_tasks, grain, k);
        fa_record_split_impl(cost, units, k, fa_now_ns_impl() - t0);
        return;
    }
    if (!fa_worth_timing(cost, units)) {
        fn(ctx, 0, n_tasks);
        return;
    }
    double t0 = fa_now_ns_impl();
    fn(ctx, 0, n_tasks);
    fa_record_impl(cost, units, fa_now_ns_impl() - t0);
}

static const fa_pool_api fa_pool_api_impl = {
    FA_POOL_API_VERSION, fa_parallel_for_impl, fa_threads_for_impl, fa_run_impl,
    fa_now_ns_impl,      fa_record_impl,       fa_task_ns_impl,
};

#define fa_pool_ptr (&fa_pool_api_impl)

#else /* ------------------------------------------------------ users */

static const fa_pool_api *fa_pool_ptr;

/* load the pool from fastact.cpu.ufunc (with the GIL; -1 and an exception
 * on failure) */
static int fa_pool_import(void) {
    fa_pool_ptr = (const fa_pool_api *)PyCapsule_Import("fastact.cpu.ufunc._pool_api", 0);
    if (fa_pool_ptr == NULL)
        return -1;
    if (fa_pool_ptr->version != FA_POOL_API_VERSION) {
        PyErr_SetString(PyExc_ImportError, "fastact.cpu.ufunc: pool API version mismatch");
        fa_pool_ptr = NULL;
        return -1;
    }
    return 0;
}

#endif

static inline void fa_parallel_for(fa_task_fn fn, void *ctx, ptrdiff_t n_tasks, ptrdiff_t grain,
                                   int n_threads) {
    fa_pool_ptr->parallel_for(fn, ctx, n_tasks, grain, n_threads);
}

/* run fn over the tasks on as many of max_threads as the cost model
 * chooses for `units` of work; serial runs update `cost` */
static inline void fa_run(fa_cost *cost, double units, fa_task_fn fn, void *ctx,
                          ptrdiff_t n_tasks, ptrdiff_t grain, int max_threads) {
    fa_pool_ptr->run(cost, units, fn, ctx, n_tasks, grain, max_threads);
}

#endif
