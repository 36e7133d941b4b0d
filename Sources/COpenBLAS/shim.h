// OpenBLAS's CBLAS interface (found with pkg-config: openblas), for the optional OpenBLAS trait.
#include <cblas.h>
