/* grouped.h's kernels, compiled once per instruction-set path by clones.h
 * (no include guard): the macros are grouped.h's. */

FG_GLU(f, float, fa_sigmoidf, fa_expf_neg, fabsf)
FG_GLU(d, double, fa_sigmoid, fa_exp_neg, fabs, 13,)
FG_MAX(f, float)
FG_MAX(d, double)
FG_PRELU(f, float)
FG_PRELU(d, double)
