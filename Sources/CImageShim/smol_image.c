// JPEG and PNG decoding for SmolVLM (see include/smol_image.h for why this is C).
//
// Both libraries report fatal errors through a callback that must not return; we longjmp from
// it back to the setjmp in the decode function, which frees everything and returns a status.
// Anything allocated between setjmp and longjmp is held in a `volatile` pointer so the handler
// sees its current value.
#include "smol_image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

void smol_image_free(uint8_t *rgb) { free(rgb); }

static void set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

// MARK: - JPEG

struct smol_jpeg_error {
    struct jpeg_error_mgr pub;  // first, so a j_common_ptr's err can be cast to this
    jmp_buf jump;
    int status;                 // SMOL_IMAGE_* for the failure
    int hit_eof;                // the source ran dry and libjpeg inserted a fake EOI
    char message[JMSG_LENGTH_MAX];
};

static int jpeg_status_for(struct smol_jpeg_error *e) {
    switch (e->pub.msg_code) {
    case JERR_EMPTY_IMAGE: return SMOL_IMAGE_EMPTY;
    case JERR_OUT_OF_MEMORY: return SMOL_IMAGE_NO_MEMORY;
    case JERR_CONVERSION_NOTIMPL:
    case JERR_BAD_IN_COLORSPACE:
    case JERR_BAD_J_COLORSPACE:
        return SMOL_IMAGE_UNSUPPORTED;
    default:
        return e->hit_eof ? SMOL_IMAGE_TRUNCATED : SMOL_IMAGE_CORRUPT;
    }
}

static void jpeg_fail(j_common_ptr cinfo) {
    struct smol_jpeg_error *e = (struct smol_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    e->status = jpeg_status_for(e);
    longjmp(e->jump, 1);
}

// libjpeg reports damaged data as warnings and carries on, producing grey or garbled pixels.
// We refuse instead: a caption of a half-decoded image is worse than an error. Warnings about
// harmless oddities (extraneous bytes between markers, unknown JFIF versions, ...) are ignored.
static void jpeg_message(j_common_ptr cinfo, int msg_level) {
    struct smol_jpeg_error *e = (struct smol_jpeg_error *)cinfo->err;
    if (msg_level >= 0) return;  // trace messages
    switch (e->pub.msg_code) {
    case JWRN_JPEG_EOF:
        // Not fatal by itself: a file missing only its final EOI marker decodes fully. If
        // pixels are actually missing, JWRN_HIT_MARKER (or an error) follows.
        e->hit_eof = 1;
        return;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION:
        (*cinfo->err->format_message)(cinfo, e->message);
        e->status = e->hit_eof ? SMOL_IMAGE_TRUNCATED : SMOL_IMAGE_CORRUPT;
        longjmp(e->jump, 1);
    default:
        return;
    }
}

// stb_image's x*y/255 rounding, used for its CMYK conversion.
static inline uint8_t blinn_8x8(uint8_t x, uint8_t y) {
    unsigned t = (unsigned)x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

int smol_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels,
                     uint8_t **rgb, int *w, int *h, char *err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct smol_jpeg_error jerr;
    uint8_t *volatile out = NULL;
    uint8_t *volatile cmyk_row = NULL;

    *rgb = NULL;
    *w = 0;
    *h = 0;
    set_error(err, errlen, "");
    if (data == NULL || size == 0) {
        set_error(err, errlen, "no data");
        return SMOL_IMAGE_TRUNCATED;
    }
    if (size > ULONG_MAX) {  // jpeg_mem_src takes an unsigned long (32 bits on Windows)
        set_error(err, errlen, "JPEG data larger than %lu bytes", ULONG_MAX);
        return SMOL_IMAGE_TOO_LARGE;
    }

    memset(&cinfo, 0, sizeof cinfo);
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_fail;
    jerr.pub.emit_message = jpeg_message;

    if (setjmp(jerr.jump)) {
        free(out);
        free(cmyk_row);
        *w = (int)cinfo.image_width;  // set by the SOF reader before it checks them (0 if none)
        *h = (int)cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "%s", jerr.message);
        return jerr.status;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    // The size check comes before jpeg_start_decompress, which allocates per-image buffers
    // (whole-image coefficient arrays for progressive files).
    *w = (int)cinfo.image_width;
    *h = (int)cinfo.image_height;
    int status = SMOL_IMAGE_OK;
    if (cinfo.image_width == 0 || cinfo.image_height == 0) {
        status = SMOL_IMAGE_EMPTY;
        set_error(err, errlen, "JPEG declares a %ux%u image", cinfo.image_width, cinfo.image_height);
    } else if ((size_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        status = SMOL_IMAGE_TOO_LARGE;
        set_error(err, errlen, "JPEG declares %ux%u pixels, over the limit of %zu",
                  cinfo.image_width, cinfo.image_height, max_pixels);
    }
    int cmyk = 0;
    if (status == SMOL_IMAGE_OK) {
        switch (cinfo.jpeg_color_space) {
        case JCS_GRAYSCALE:
        case JCS_YCbCr:
        case JCS_RGB:
            cinfo.out_color_space = JCS_RGB;
            break;
        case JCS_CMYK:
        case JCS_YCCK:
            // libjpeg has no CMYK->RGB conversion; take CMYK (YCCK is converted to it) and
            // do stb_image's conversion below.
            cinfo.out_color_space = JCS_CMYK;
            cmyk = 1;
            break;
        default:
            status = SMOL_IMAGE_UNSUPPORTED;
            set_error(err, errlen, "JPEG colour space %d with %d components is not supported",
                      (int)cinfo.jpeg_color_space, cinfo.num_components);
        }
    }
    if (status != SMOL_IMAGE_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }

    // Closest to stb_image: accurate integer IDCT and triangle-filter chroma upsampling.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height ||
        cinfo.output_components != (cmyk ? 4 : 3)) {
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "unexpected libjpeg output layout");
        return SMOL_IMAGE_UNSUPPORTED;
    }

    size_t width = cinfo.output_width, height = cinfo.output_height;
    out = malloc(width * height * 3);
    if (cmyk) cmyk_row = malloc(width * 4);
    if (out == NULL || (cmyk && cmyk_row == NULL)) {
        free(out);
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "out of memory for a %zux%zu image", width, height);
        return SMOL_IMAGE_NO_MEMORY;
    }

    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out + (size_t)cinfo.output_scanline * width * 3;
        JSAMPROW row = cmyk ? cmyk_row : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            // Only a suspending source returns 0 rows; the memory source never suspends.
            free(out);
            free(cmyk_row);
            jpeg_destroy_decompress(&cinfo);
            set_error(err, errlen, "libjpeg returned no scanline");
            return SMOL_IMAGE_CORRUPT;
        }
        if (cmyk) {
            // As stb_image: Adobe files store inverted CMYK, so R = C*K/255 and so on.
            const uint8_t *s = cmyk_row;
            for (size_t x = 0; x < width; x++, s += 4, dst += 3) {
                dst[0] = blinn_8x8(s[0], s[3]);
                dst[1] = blinn_8x8(s[1], s[3]);
                dst[2] = blinn_8x8(s[2], s[3]);
            }
        }
    }

    // The data ran out but no pixel was missing: fine for a single-scan (sequential,
    // interleaved) file missing its EOI. A progressive or multi-scan file may have lost whole
    // later scans without any warning, so that is refused as truncated.
    if (jerr.hit_eof && (cinfo.progressive_mode || cinfo.comps_in_scan != cinfo.num_components ||
                         cinfo.input_scan_number > 1)) {
        free(out);
        free(cmyk_row);
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "JPEG data ends before the last scan");
        return SMOL_IMAGE_TRUNCATED;
    }

    jpeg_destroy_decompress(&cinfo);  // no jpeg_finish_decompress: nothing after the pixels matters
    free(cmyk_row);
    *rgb = out;
    return SMOL_IMAGE_OK;
}

// MARK: - PNG

struct smol_png_io {
    const uint8_t *data;
    size_t size;
    size_t pos;
    int truncated;
    char message[256];
};

static void png_read_memory(png_structp png, png_bytep dst, size_t n) {
    struct smol_png_io *io = (struct smol_png_io *)png_get_io_ptr(png);
    if (n > io->size - io->pos) {
        io->truncated = 1;
        png_error(png, "PNG data ends early");
    }
    memcpy(dst, io->data + io->pos, n);
    io->pos += n;
}

static void png_fail(png_structp png, png_const_charp message) {
    struct smol_png_io *io = (struct smol_png_io *)png_get_error_ptr(png);
    if (io != NULL) snprintf(io->message, sizeof io->message, "%s", message);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int smol_decode_png(const uint8_t *data, size_t size, size_t max_pixels,
                    uint8_t **rgb, int *w, int *h, char *err, size_t errlen) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    struct smol_png_io io;
    png_structp png = NULL;
    png_infop info = NULL;
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;

    *rgb = NULL;
    *w = 0;
    *h = 0;
    set_error(err, errlen, "");
    if (data == NULL || size < 8 || memcmp(data, signature, 8) != 0) {
        set_error(err, errlen, size < 8 ? "PNG data ends early" : "not a PNG signature");
        return size < 8 ? SMOL_IMAGE_TRUNCATED : SMOL_IMAGE_CORRUPT;
    }

    // Check the IHDR's size ourselves before libpng reads anything: libpng would read on to
    // the first IDAT first, and would refuse a zero size only as a generic error.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t iw = be32(data + 16), ih = be32(data + 20);
        if (iw <= INT_MAX && ih <= INT_MAX) {
            *w = (int)iw;
            *h = (int)ih;
        }
        if (iw == 0 || ih == 0) {
            set_error(err, errlen, "PNG declares a %ux%u image", iw, ih);
            return SMOL_IMAGE_EMPTY;
        }
        if ((uint64_t)iw * ih > max_pixels) {
            set_error(err, errlen, "PNG declares %ux%u pixels, over the limit of %zu", iw, ih, max_pixels);
            return SMOL_IMAGE_TOO_LARGE;
        }
    }

    memset(&io, 0, sizeof io);
    io.data = data;
    io.size = size;
    png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, png_fail, png_warn);
    if (png != NULL) info = png_create_info_struct(png);
    if (png == NULL || info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        set_error(err, errlen, "out of memory for libpng");
        return SMOL_IMAGE_NO_MEMORY;
    }

    if (setjmp(png_jmpbuf(png))) {
        free(out);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        set_error(err, errlen, "%s", io.message);
        return io.truncated ? SMOL_IMAGE_TRUNCATED : SMOL_IMAGE_CORRUPT;
    }

    png_set_read_fn(png, &io, png_read_memory);
    // Our max_pixels is the size limit; libpng's default 1,000,000-per-side cap would refuse
    // legitimate long thin images with a generic error.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 pw = 0, ph = 0;
    int bit_depth = 0, color_type = 0;
    png_get_IHDR(png, info, &pw, &ph, &bit_depth, &color_type, NULL, NULL, NULL);
    *w = (int)pw;
    *h = (int)ph;
    if (pw == 0 || ph == 0 || (uint64_t)pw * ph > max_pixels) {  // libpng refuses 0, but be sure
        png_destroy_read_struct(&png, &info, NULL);
        set_error(err, errlen, "PNG declares %ux%u pixels, over the limit of %zu", pw, ph, max_pixels);
        return pw == 0 || ph == 0 ? SMOL_IMAGE_EMPTY : SMOL_IMAGE_TOO_LARGE;
    }

    // stb_image's 3-channel result, built from libpng's low-level transforms (the simplified
    // API composites alpha onto a background and applies gamma, which stb does not):
    png_set_strip_16(png);                          // 16 -> 8 bits by keeping the high byte (v >> 8)
    png_set_palette_to_rgb(png);                    // palette -> RGB(A) (no-op for other types)
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);        // scaled to 0...255 as stb does
    png_set_strip_alpha(png);                       // alpha (incl. a palette's tRNS) dropped, not composited
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0)
        png_set_gray_to_rgb(png);                   // grey replicated
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != (size_t)pw * 3) {
        png_destroy_read_struct(&png, &info, NULL);
        set_error(err, errlen, "unexpected libpng output layout");
        return SMOL_IMAGE_UNSUPPORTED;
    }

    out = malloc((size_t)pw * ph * 3);
    rows = malloc((size_t)ph * sizeof(png_bytep));
    if (out == NULL || rows == NULL) {
        free(out);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        set_error(err, errlen, "out of memory for a %ux%u image", pw, ph);
        return SMOL_IMAGE_NO_MEMORY;
    }
    for (size_t y = 0; y < ph; y++) rows[y] = out + y * (size_t)pw * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);  // reads to IEND, so the last IDAT's CRC and zlib checksum are checked

    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *rgb = out;
    return SMOL_IMAGE_OK;
}
