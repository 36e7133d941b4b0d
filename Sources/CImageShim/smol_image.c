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

// MARK: - JPEG reconstruction as stb_image does it
//
// llama.cpp loads images with stb_image, whose IDCT, chroma upsampling and colour conversion
// round differently from libjpeg's. The vision encoder sees those level differences, so we
// use libjpeg only to parse the file and undo the entropy coding (jpeg_read_coefficients) and
// rebuild the pixels from the quantised coefficients with stb_image's integer arithmetic.
//
// On x86-64 stb_image runs its SSE2 kernels. Of those, only the IDCT can differ from its
// scalar code, and only for out-of-range coefficients: it adds input pairs in 16 bits
// (wrapping) and saturates the column pass to 16 bits. We emulate that lane arithmetic in
// plain C, so the bytes are the same on every CPU. The SSE2 hv_2 upsampler is exactly its
// scalar twin, and the SSE2 YCbCr kernel is only used for 4-channel output (llama.cpp asks
// for 3), so both are written in their scalar form.

// stb_image's x*y/255 rounding, used for its CMYK conversion.
static inline uint8_t blinn_8x8(uint8_t x, uint8_t y) {
    unsigned t = (unsigned)x * y + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

// floor(v / 2^s): an arithmetic right shift without relying on how >> treats negatives.
static inline int32_t shr_floor(int32_t v, int s) {
    return v >= 0 ? (int32_t)(v >> s) : (int32_t)(-((-(int64_t)v - 1) >> s) - 1);
}

// The low 16 bits of v as a signed value: a 16-bit SIMD lane's (or a C short cast's) result.
static inline int32_t wrap16(int64_t v) {
    int32_t t = (int32_t)((uint64_t)v & 0xFFFFu);
    return t >= 0x8000 ? t - 0x10000 : t;
}

static inline int32_t sat16(int32_t v) { return v < -32768 ? -32768 : v > 32767 ? 32767 : v; }
static inline uint8_t sat_u8(int32_t v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

// One 8-point pass of stb's SSE2 IDCT (one lane of the vector code). The constants are
// stb's 12-bit fixed-point rotations, pre-summed as its _mm_madd_epi16 pairs use them.
// With 16-bit inputs no 32-bit intermediate can overflow (largest |sum| is about 1.1e9).
static void idct_pass(const int32_t s[8], int32_t bias, int shift, int32_t out[8]) {
    // Most inputs are DC-only; the full computation then gives the same value 8 times.
    if ((s[1] | s[2] | s[3] | s[4] | s[5] | s[6] | s[7]) == 0) {
        int32_t v = shr_floor(s[0] * 4096 + bias, shift);
        for (int k = 0; k < 8; k++) out[k] = v;
        return;
    }
    // even part
    int32_t t2 = s[2] * 2217 + s[6] * -5350;
    int32_t t3 = s[2] * 5352 + s[6] * 2217;
    int32_t t0 = wrap16(s[0] + s[4]) * 4096;
    int32_t t1 = wrap16(s[0] - s[4]) * 4096;
    int32_t x0 = t0 + t3, x3 = t0 - t3, x1 = t1 + t2, x2 = t1 - t2;
    // odd part
    int32_t s17 = wrap16(s[1] + s[7]), s35 = wrap16(s[3] + s[5]);
    int32_t y0 = s[7] * -6811 + s[3] * -8034;
    int32_t y2 = s[7] * -8034 + s[3] * 4552;
    int32_t y1 = s[5] * 6813 + s[1] * -1597;
    int32_t y3 = s[5] * -1597 + s[1] * 4552;
    int32_t y4 = s17 * 1131 + s35 * 4816;
    int32_t y5 = s17 * 4816 + s35 * -5681;
    int32_t x4 = y0 + y4, x5 = y1 + y5, x6 = y2 + y5, x7 = y3 + y4;
    x0 += bias;
    x1 += bias;
    x2 += bias;
    x3 += bias;
    out[0] = shr_floor(x0 + x7, shift);
    out[7] = shr_floor(x0 - x7, shift);
    out[1] = shr_floor(x1 + x6, shift);
    out[6] = shr_floor(x1 - x6, shift);
    out[2] = shr_floor(x2 + x5, shift);
    out[5] = shr_floor(x2 - x5, shift);
    out[3] = shr_floor(x3 + x4, shift);
    out[4] = shr_floor(x3 - x4, shift);
}

// Dequantised coefficients (natural order) -> 8x8 pixels. Columns first with 2 extra bits of
// precision kept, then rows, which also remove the 2^17 scale and add the 128 level shift.
static void idct_block(const int16_t coef[64], uint8_t *out, size_t stride) {
    int32_t mid[64], in[8], res[8];
    for (int c = 0; c < 8; c++) {
        for (int k = 0; k < 8; k++) in[k] = coef[k * 8 + c];
        idct_pass(in, 512, 10, res);
        for (int k = 0; k < 8; k++) mid[k * 8 + c] = sat16(res[k]);  // _mm_packs_epi32
    }
    for (int r = 0; r < 8; r++) {
        idct_pass(mid + r * 8, 65536 + (128 << 17), 17, res);
        for (int k = 0; k < 8; k++) out[(size_t)r * stride + k] = sat_u8(res[k]);
    }
}

// One component's pixels at its own resolution, and stb's cursor for upsampling it.
struct jpeg_plane {
    uint8_t *pix;
    size_t stride;          // bytes per row: width in blocks * 8
    int width, height;      // samples that belong to the image, ceil(image * factor / max)
    int hs, vs;             // upsampling factors
    int w_lores;            // ceil(image width / hs): input samples per upsampled row
    int ystep, ypos;        // stb's vertical phase and source row
    const uint8_t *line0, *line1;
};

// The fancy (triangle) filters stb uses for 2x horizontal, vertical and both; anything else
// (e.g. 4:1:1, 3x) is replicated nearest-neighbour as stb does.
static const uint8_t *upsample_row(const struct jpeg_plane *p, uint8_t *buf,
                                   const uint8_t *near, const uint8_t *far) {
    int w = p->w_lores;
    if (p->hs == 1 && p->vs == 1) return near;
    if (p->hs == 1 && p->vs == 2) {
        for (int i = 0; i < w; i++) buf[i] = (uint8_t)((3 * near[i] + far[i] + 2) >> 2);
        return buf;
    }
    if (p->hs == 2 && p->vs == 1) {
        if (w == 1) {
            buf[0] = buf[1] = near[0];
            return buf;
        }
        buf[0] = near[0];
        buf[1] = (uint8_t)((3 * near[0] + near[1] + 2) >> 2);
        for (int i = 1; i < w - 1; i++) {
            int c = 3 * near[i] + 2;
            buf[2 * i] = (uint8_t)((c + near[i - 1]) >> 2);
            buf[2 * i + 1] = (uint8_t)((c + near[i + 1]) >> 2);
        }
        buf[2 * w - 2] = (uint8_t)((3 * near[w - 2] + near[w - 1] + 2) >> 2);
        buf[2 * w - 1] = near[w - 1];
        return buf;
    }
    if (p->hs == 2 && p->vs == 2) {
        // Vertical blend first (3:1 towards the nearer row), then horizontal on the sums.
        int cur = 3 * near[0] + far[0];
        if (w == 1) {
            buf[0] = buf[1] = (uint8_t)((cur + 2) >> 2);
            return buf;
        }
        buf[0] = (uint8_t)((cur + 2) >> 2);
        for (int i = 1; i < w; i++) {
            int prev = cur;
            cur = 3 * near[i] + far[i];
            buf[2 * i - 1] = (uint8_t)((3 * prev + cur + 8) >> 4);
            buf[2 * i] = (uint8_t)((3 * cur + prev + 8) >> 4);
        }
        buf[2 * w - 1] = (uint8_t)((cur + 2) >> 2);
        return buf;
    }
    for (int i = 0; i < w; i++)
        for (int j = 0; j < p->hs; j++) buf[i * p->hs + j] = near[i];
    return buf;
}

// The next output row of plane p at full resolution, advancing stb's vertical cursor: for
// vs = 2 the "near" row alternates between the current and the previous/next source row,
// and the source rows stop advancing at the plane's last real row.
static const uint8_t *next_row(struct jpeg_plane *p, uint8_t *buf) {
    int bottom = p->ystep >= (p->vs >> 1);
    const uint8_t *row = upsample_row(p, buf, bottom ? p->line1 : p->line0, bottom ? p->line0 : p->line1);
    if (++p->ystep >= p->vs) {
        p->ystep = 0;
        p->line0 = p->line1;
        if (++p->ypos < p->height) p->line1 += p->stride;
    }
    return row;
}

// stb's reduced-precision YCbCr -> RGB (its scalar kernel, which is what runs for 3-channel
// output): 20-bit fixed point, with the Cb term of green truncated to a multiple of 2^16.
static void ycbcr_to_rgb(uint8_t *out, const uint8_t *y, const uint8_t *cb, const uint8_t *cr, int n) {
    for (int i = 0; i < n; i++, out += 3) {
        int32_t yy = ((int32_t)y[i] << 20) + (1 << 19);
        int32_t dr = cr[i] - 128, db = cb[i] - 128;
        int32_t gcb = db * -360960;
        gcb -= (int32_t)((uint32_t)gcb & 0xFFFFu);
        out[0] = sat_u8(shr_floor(yy + dr * 1470208, 20));
        out[1] = sat_u8(shr_floor(yy + dr * -748800 + gcb, 20));
        out[2] = sat_u8(shr_floor(yy + db * 1858048, 20));
    }
}

enum jpeg_colour {
    COLOUR_GRAY,     // 1 component, replicated
    COLOUR_RGB,      // 3 components stored as RGB, copied
    COLOUR_YCBCR,    // 3 components, or 4 whose fourth stb ignores (no/unknown Adobe transform)
    COLOUR_CMYK,     // 4 components, Adobe transform 0 (inverted CMYK)
    COLOUR_YCCK,     // 4 components, Adobe transform 2
};

// How stb_image interprets the components: by the count, the component ids ('R','G','B'),
// a JFIF APP0 and the last Adobe APP14's transform flag, each judged exactly as stb does.
static enum jpeg_colour jpeg_colour_for(j_decompress_ptr cinfo) {
    int jfif = 0, transform = -1;
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 && m->original_length >= 5 && m->data_length >= 5 &&
            memcmp(m->data, "JFIF\0", 5) == 0)
            jfif = 1;
        else if (m->marker == JPEG_APP0 + 14 && m->original_length >= 12 && m->data_length >= 12 &&
                 memcmp(m->data, "Adobe\0", 6) == 0)
            transform = m->data[11];
    }
    if (cinfo->num_components == 1) return COLOUR_GRAY;
    if (cinfo->num_components == 3) {
        const jpeg_component_info *c = cinfo->comp_info;
        int rgb_ids = c[0].component_id == 'R' && c[1].component_id == 'G' && c[2].component_id == 'B';
        return rgb_ids || (transform == 0 && !jfif) ? COLOUR_RGB : COLOUR_YCBCR;
    }
    return transform == 0 ? COLOUR_CMYK : transform == 2 ? COLOUR_YCCK : COLOUR_YCBCR;
}

// Dequantises and inverse-transforms every block of every component into planes (one
// malloc'd buffer, *planes_buf). Returns a status; libjpeg errors longjmp out.
static int jpeg_build_planes(j_decompress_ptr cinfo, jvirt_barray_ptr *coefs, struct jpeg_plane *planes,
                             uint8_t *volatile *planes_buf, char *err, size_t errlen) {
    int n = cinfo->num_components;
    size_t total = 0;
    for (int ci = 0; ci < n; ci++) {
        const jpeg_component_info *c = &cinfo->comp_info[ci];
        struct jpeg_plane *p = &planes[ci];
        p->width = (int)(((size_t)cinfo->image_width * c->h_samp_factor + cinfo->max_h_samp_factor - 1) /
                         cinfo->max_h_samp_factor);
        p->height = (int)(((size_t)cinfo->image_height * c->v_samp_factor + cinfo->max_v_samp_factor - 1) /
                          cinfo->max_v_samp_factor);
        if ((size_t)c->width_in_blocks != ((size_t)p->width + 7) / 8 ||
            (size_t)c->height_in_blocks != ((size_t)p->height + 7) / 8) {
            set_error(err, errlen, "unexpected libjpeg block layout for component %d", ci);
            return SMOL_IMAGE_UNSUPPORTED;
        }
        p->stride = (size_t)c->width_in_blocks * 8;
        p->hs = cinfo->max_h_samp_factor / c->h_samp_factor;
        p->vs = cinfo->max_v_samp_factor / c->v_samp_factor;
        p->w_lores = (int)((cinfo->image_width + (unsigned)p->hs - 1) / (unsigned)p->hs);
        p->ystep = p->vs >> 1;
        p->ypos = 0;
        total += p->stride * c->height_in_blocks * 8;
    }
    *planes_buf = malloc(total);
    if (*planes_buf == NULL) {
        set_error(err, errlen, "out of memory for %zu bytes of JPEG planes", total);
        return SMOL_IMAGE_NO_MEMORY;
    }
    uint8_t *pix = *planes_buf;
    for (int ci = 0; ci < n; ci++) {
        jpeg_component_info *c = &cinfo->comp_info[ci];
        struct jpeg_plane *p = &planes[ci];
        p->pix = pix;
        p->line0 = p->line1 = pix;
        pix += p->stride * c->height_in_blocks * 8;
        // A component that was in no scan has no latched table (and no data). Progressive
        // files are dequantised by stb after the last scan, so with the table as it stands
        // then; sequential ones as each block is read, i.e. with the table of their scan.
        if (c->quant_table == NULL) {
            set_error(err, errlen, "JPEG component %d has no scan", ci);
            return SMOL_IMAGE_CORRUPT;
        }
        const JQUANT_TBL *qt = cinfo->progressive_mode ? cinfo->quant_tbl_ptrs[c->quant_tbl_no] : c->quant_table;
        if (qt == NULL) qt = c->quant_table;
        int16_t deq[64];
        for (JDIMENSION by = 0; by < c->height_in_blocks; by++) {
            JBLOCKARRAY row = (*cinfo->mem->access_virt_barray)((j_common_ptr)cinfo, coefs[ci], by, 1, FALSE);
            for (JDIMENSION bx = 0; bx < c->width_in_blocks; bx++) {
                const JCOEF *blk = row[0][bx];
                // stb refuses a sequential file whose DC term does not fit 16 bits once
                // dequantised; every other product is kept as a C short cast keeps it.
                int64_t dc = (int64_t)blk[0] * qt->quantval[0];
                if (!cinfo->progressive_mode && (dc < -32768 || dc > 32767)) {
                    set_error(err, errlen, "JPEG DC coefficient out of range");
                    return SMOL_IMAGE_CORRUPT;
                }
                for (int k = 0; k < 64; k++) deq[k] = (int16_t)wrap16((int64_t)blk[k] * qt->quantval[k]);
                idct_block(deq, p->pix + (size_t)by * 8 * p->stride + (size_t)bx * 8, p->stride);
            }
        }
    }
    return SMOL_IMAGE_OK;
}

// Upsamples the planes and converts them to RGB, row by row as stb's load_jpeg_image does.
// linebufs holds n rows of at least width + 3 bytes (2x and 4x upsampling overshoot the width).
static void jpeg_planes_to_rgb(struct jpeg_plane *planes, int n, enum jpeg_colour colour, int width,
                               int height, uint8_t *linebufs, size_t linebuf_size, uint8_t *out) {
    const uint8_t *row[4] = {NULL, NULL, NULL, NULL};
    for (int y = 0; y < height; y++, out += (size_t)width * 3) {
        for (int k = 0; k < n; k++) row[k] = next_row(&planes[k], linebufs + (size_t)k * linebuf_size);
        uint8_t *o = out;
        switch (colour) {
        case COLOUR_GRAY:
            for (int x = 0; x < width; x++, o += 3) o[0] = o[1] = o[2] = row[0][x];
            break;
        case COLOUR_RGB:
            for (int x = 0; x < width; x++, o += 3) {
                o[0] = row[0][x];
                o[1] = row[1][x];
                o[2] = row[2][x];
            }
            break;
        case COLOUR_YCBCR:
            ycbcr_to_rgb(o, row[0], row[1], row[2], width);
            break;
        case COLOUR_CMYK:  // Adobe's inverted CMYK: R = C*K/255 and so on
            for (int x = 0; x < width; x++, o += 3) {
                o[0] = blinn_8x8(row[0][x], row[3][x]);
                o[1] = blinn_8x8(row[1][x], row[3][x]);
                o[2] = blinn_8x8(row[2][x], row[3][x]);
            }
            break;
        case COLOUR_YCCK:  // YCbCr -> (inverted) CMY, then as CMYK
            ycbcr_to_rgb(o, row[0], row[1], row[2], width);
            for (int x = 0; x < width; x++, o += 3) {
                o[0] = blinn_8x8((uint8_t)(255 - o[0]), row[3][x]);
                o[1] = blinn_8x8((uint8_t)(255 - o[1]), row[3][x]);
                o[2] = blinn_8x8((uint8_t)(255 - o[2]), row[3][x]);
            }
            break;
        }
    }
}

int smol_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels,
                     uint8_t **rgb, int *w, int *h, char *err, size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct smol_jpeg_error jerr;
    uint8_t *volatile planes_buf = NULL;

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
        free(planes_buf);
        *w = (int)cinfo.image_width;  // set by the SOF reader before it checks them (0 if none)
        *h = (int)cinfo.image_height;
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "%s", jerr.message);
        return jerr.status;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    // stb_image decides RGB vs YCbCr and CMYK vs YCCK from these; 16 bytes hold all it reads.
    jpeg_save_markers(&cinfo, JPEG_APP0, 16);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 14, 16);
    jpeg_read_header(&cinfo, TRUE);

    // Everything proportional to the image (libjpeg's coefficient arrays, our planes and
    // pixels) is allocated after this check.
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
    } else if (cinfo.num_components != 1 && cinfo.num_components != 3 && cinfo.num_components != 4) {
        status = SMOL_IMAGE_UNSUPPORTED;  // as stb_image
        set_error(err, errlen, "JPEG with %d components is not supported", cinfo.num_components);
    } else {
        // stb_image's upsamplers only handle whole ratios to the largest sampling factor.
        for (int ci = 0; ci < cinfo.num_components; ci++) {
            const jpeg_component_info *c = &cinfo.comp_info[ci];
            if (cinfo.max_h_samp_factor % c->h_samp_factor != 0 ||
                cinfo.max_v_samp_factor % c->v_samp_factor != 0) {
                status = SMOL_IMAGE_UNSUPPORTED;
                set_error(err, errlen, "JPEG sampling factors %dx%d of component %d do not divide %dx%d",
                          c->h_samp_factor, c->v_samp_factor, ci, cinfo.max_h_samp_factor,
                          cinfo.max_v_samp_factor);
                break;
            }
        }
    }
    if (status != SMOL_IMAGE_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }

    jvirt_barray_ptr *coefs = jpeg_read_coefficients(&cinfo);

    // The data ran out but no block was missing: fine for a single-scan (sequential,
    // interleaved) file missing its EOI. A progressive or multi-scan file may have lost whole
    // later scans without any warning, so that is refused as truncated.
    if (jerr.hit_eof && (cinfo.progressive_mode || cinfo.comps_in_scan != cinfo.num_components ||
                         cinfo.input_scan_number > 1)) {
        jpeg_destroy_decompress(&cinfo);
        set_error(err, errlen, "JPEG data ends before the last scan");
        return SMOL_IMAGE_TRUNCATED;
    }

    struct jpeg_plane planes[4];
    memset(planes, 0, sizeof planes);
    status = jpeg_build_planes(&cinfo, coefs, planes, &planes_buf, err, errlen);
    int n = cinfo.num_components;
    enum jpeg_colour colour = jpeg_colour_for(&cinfo);
    // Free libjpeg's coefficient arrays before allocating the pixels. No longjmp after this.
    jpeg_destroy_decompress(&cinfo);
    uint8_t *planes_mem = planes_buf;
    if (status != SMOL_IMAGE_OK) {
        free(planes_mem);
        return status;
    }

    size_t width = (size_t)*w, height = (size_t)*h;
    size_t linebuf_size = width + 4;
    uint8_t *out = malloc(width * height * 3);
    uint8_t *linebufs = malloc(linebuf_size * (size_t)n);
    if (out == NULL || linebufs == NULL) {
        free(out);
        free(linebufs);
        free(planes_mem);
        set_error(err, errlen, "out of memory for a %zux%zu image", width, height);
        return SMOL_IMAGE_NO_MEMORY;
    }
    jpeg_planes_to_rgb(planes, n, colour, (int)width, (int)height, linebufs, linebuf_size, out);
    free(linebufs);
    free(planes_mem);
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
