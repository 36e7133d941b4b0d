// libjpeg (libjpeg-turbo), found with pkg-config "libjpeg".
// jpeglib.h uses FILE and size_t without including <stdio.h> itself, so that comes first.
#include <stdio.h>
#include <jpeglib.h>
