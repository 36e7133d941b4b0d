// libpng 1.6, found with pkg-config "libpng".
#include <png.h>
