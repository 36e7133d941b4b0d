// JPEG and PNG decoding to 8-bit RGB for SmolVLM's vision path.
//
// This is C, not Swift, because libjpeg and libpng report a fatal error by calling a handler
// that must not return: the only way back is longjmp to a setjmp in the caller, and Swift
// cannot call setjmp. Everything else (format detection, typed errors) lives in Swift.
//
// This header deliberately does not include jpeglib.h or png.h, so Swift code importing it
// needs neither.
#ifndef SMOL_IMAGE_H
#define SMOL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Outcome of a decode. On anything but SMOL_IMAGE_OK, *rgb is NULL and err holds a message.
enum {
    SMOL_IMAGE_OK = 0,
    SMOL_IMAGE_CORRUPT = 1,      // malformed data (bad marker, CRC, Huffman code, ...)
    SMOL_IMAGE_TRUNCATED = 2,    // the data ends before the image does
    SMOL_IMAGE_TOO_LARGE = 3,    // width*height > max_pixels; *w and *h hold the header's size
    SMOL_IMAGE_EMPTY = 4,        // the header declares a zero width or height
    SMOL_IMAGE_UNSUPPORTED = 5,  // a valid file this decoder does not handle (e.g. colour space)
    SMOL_IMAGE_NO_MEMORY = 6,
};

/// Decodes a JPEG into a malloc'd buffer of *w * *h * 3 bytes (RGB, row-major), freed with
/// smol_image_free, byte-identical to stb_image's 3-channel output on x86-64 (llama.cpp's
/// loader): libjpeg parses and entropy-decodes, the rest is stb's arithmetic. Checks the
/// header's size against max_pixels before allocating anything proportional to it. Grayscale
/// is replicated; RGB, CMYK and YCCK are recognised and converted as stb_image does. 2-component
/// files and sampling factors that are not whole ratios of the largest (stb refuses both) are
/// SMOL_IMAGE_UNSUPPORTED. Truncated or corrupt entropy data is an error, not a grey-padded image.
int smol_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels,
                     uint8_t **rgb, int *w, int *h, char *err, size_t errlen);

/// Decodes a PNG into RGB as stb_image does when asked for 3 channels (llama.cpp's loader):
/// grayscale replicated, alpha (and tRNS) dropped without compositing, 16-bit reduced with
/// `v >> 8`, palettes and low bit depths expanded, no gamma correction.
int smol_decode_png(const uint8_t *data, size_t size, size_t max_pixels,
                    uint8_t **rgb, int *w, int *h, char *err, size_t errlen);

/// Frees a buffer returned by smol_decode_jpeg / smol_decode_png (NULL is fine).
void smol_image_free(uint8_t *rgb);

#ifdef __cplusplus
}
#endif

#endif
