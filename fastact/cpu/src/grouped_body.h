/* grouped.h's kernels, compiled once per instruction-set path by clones.h
 * (no include guard): the macros are grouped.h's. */

FG_GLU(f, float, fa_sigmoidf)
FG_GLU(d, double, fa_sigmoid, 13,)
FG_MAX(f, float)
FG_MAX(d, double)
