// Writes JPEG variants Pillow cannot make (4:4:0 and 4:1:1 sampling, YCCK, RGB without the
// 'R','G','B' ids, ...) with the system libjpeg, for check_jpeg_decode.py. Reference tooling
// only: not built by SwiftPM, not run in CI.
//
//   jpeg_variant_encoder IN.raw WIDTH HEIGHT COMPONENTS OUT.jpg [option...]
//
// IN.raw holds WIDTH*HEIGHT*COMPONENTS bytes: gray (1), RGB (3) or CMYK (4, Adobe inverted).
// Options: q=N  progressive  separate-scans (sequential, one scan per component)  restart=MCUS  space=ycc|rgb|gray|cmyk|ycck
//          sampling=HxV,HxV,...  ids=A,B,C,...  jfif=0|1  adobe=0|1
//          coefs=SEED[:QMAX]: ignore the pixels and write pseudo-random quantised coefficients
//              (|AC| <= 1023) with 16-bit quantisation tables up to QMAX (default 32767), so
//              dequantised values wrap 16 bits and the IDCT's 16-bit sums and saturation are hit
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

static unsigned long long rng_state;

static unsigned rng(unsigned n) {  // deterministic on every platform
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)(rng_state >> 33) % n;
}

// Fills every component's coefficient array with random values and writes them.
static void write_random_coefficients(j_compress_ptr cinfo, unsigned qmax) {
    for (int t = 0; t < 2; t++) {
        unsigned table[64];
        table[0] = 1 + rng(8);  // stb refuses a sequential DC term that overflows 16 bits
        for (int k = 1; k < 64; k++) table[k] = 1 + (rng(4) == 0 ? rng(qmax) : rng(64));
        jpeg_add_quant_table(cinfo, t, table, 100, FALSE);
    }
    cinfo->optimize_coding = TRUE;  // the standard Huffman tables lack the long codes
    jvirt_barray_ptr arrays[MAX_COMPONENTS];
    int hmax = 1, vmax = 1;  // libjpeg computes its own only in jpeg_write_coefficients
    for (int ci = 0; ci < cinfo->num_components; ci++) {
        if (cinfo->comp_info[ci].h_samp_factor > hmax) hmax = cinfo->comp_info[ci].h_samp_factor;
        if (cinfo->comp_info[ci].v_samp_factor > vmax) vmax = cinfo->comp_info[ci].v_samp_factor;
    }
    for (int ci = 0; ci < cinfo->num_components; ci++) {
        jpeg_component_info *c = &cinfo->comp_info[ci];
        JDIMENSION w = (cinfo->image_width * c->h_samp_factor + hmax * 8 - 1) / (hmax * 8);
        JDIMENSION h = (cinfo->image_height * c->v_samp_factor + vmax * 8 - 1) / (vmax * 8);
        w = (w + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor;
        h = (h + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor;
        arrays[ci] = (*cinfo->mem->request_virt_barray)((j_common_ptr)cinfo, JPOOL_IMAGE, TRUE, w, h,
                                                         (JDIMENSION)c->v_samp_factor);
    }
    jpeg_write_coefficients(cinfo, arrays);
    for (int ci = 0; ci < cinfo->num_components; ci++) {
        jpeg_component_info *c = &cinfo->comp_info[ci];
        JDIMENSION rows = (c->height_in_blocks + c->v_samp_factor - 1) / c->v_samp_factor * c->v_samp_factor;
        JDIMENSION cols = (c->width_in_blocks + c->h_samp_factor - 1) / c->h_samp_factor * c->h_samp_factor;
        for (JDIMENSION by = 0; by < rows; by++) {
            JBLOCKARRAY row = (*cinfo->mem->access_virt_barray)((j_common_ptr)cinfo, arrays[ci], by, 1, TRUE);
            for (JDIMENSION bx = 0; bx < cols; bx++) {
                JCOEF *b = row[0][bx];
                b[0] = (JCOEF)((int)rng(2001) - 1000);
                int nonzero = 1 + (int)rng(63);
                for (int k = 1; k < 64; k++)
                    b[k] = (int)rng(64) < nonzero ? (JCOEF)((int)rng(2047) - 1023) : 0;
            }
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s IN.raw WIDTH HEIGHT COMPONENTS OUT.jpg [option...]\n", argv[0]);
        return 2;
    }
    int width = atoi(argv[2]), height = atoi(argv[3]), comps = atoi(argv[4]);
    size_t size = (size_t)width * height * comps;
    unsigned char *pixels = malloc(size);
    FILE *in = fopen(argv[1], "rb");
    if (pixels == NULL || in == NULL || fread(pixels, 1, size, in) != size) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", size, argv[1]);
        return 1;
    }
    fclose(in);

    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    FILE *out = fopen(argv[5], "wb");
    if (out == NULL) {
        perror(argv[5]);
        return 1;
    }
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = comps;
    cinfo.in_color_space = comps == 1 ? JCS_GRAYSCALE : comps == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&cinfo);

    int quality = 90, progressive = 0, restart = 0, jfif = -1, adobe = -1, random_coefs = 0;
    unsigned qmax = 32767;
    int separate = 0;
    jpeg_scan_info scans[MAX_COMPONENTS];
    const char *sampling = NULL, *ids = NULL;
    for (int i = 6; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "q=", 2) == 0) quality = atoi(a + 2);
        else if (strcmp(a, "progressive") == 0) progressive = 1;
        else if (strcmp(a, "separate-scans") == 0) separate = 1;
        else if (strncmp(a, "restart=", 8) == 0) restart = atoi(a + 8);
        else if (strncmp(a, "sampling=", 9) == 0) sampling = a + 9;
        else if (strncmp(a, "ids=", 4) == 0) ids = a + 4;
        else if (strncmp(a, "jfif=", 5) == 0) jfif = atoi(a + 5);
        else if (strncmp(a, "adobe=", 6) == 0) adobe = atoi(a + 6);
        else if (strncmp(a, "coefs=", 6) == 0) {
            random_coefs = 1;
            rng_state = strtoull(a + 6, NULL, 10);
            const char *colon = strchr(a, ':');
            if (colon != NULL) qmax = (unsigned)atoi(colon + 1);
        }
        else if (strncmp(a, "space=", 6) == 0) {
            const char *s = a + 6;
            J_COLOR_SPACE cs = strcmp(s, "rgb") == 0    ? JCS_RGB
                               : strcmp(s, "gray") == 0 ? JCS_GRAYSCALE
                               : strcmp(s, "cmyk") == 0 ? JCS_CMYK
                               : strcmp(s, "ycck") == 0 ? JCS_YCCK
                                                        : JCS_YCbCr;
            jpeg_set_colorspace(&cinfo, cs);
        } else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    jpeg_set_quality(&cinfo, quality, TRUE);
    if (sampling != NULL) {
        const char *s = sampling;
        for (int ci = 0; ci < cinfo.num_components && *s; ci++) {
            int h = 0, v = 0, used = 0;
            if (sscanf(s, "%dx%d%n", &h, &v, &used) != 2) {
                fprintf(stderr, "bad sampling %s\n", sampling);
                return 2;
            }
            cinfo.comp_info[ci].h_samp_factor = h;
            cinfo.comp_info[ci].v_samp_factor = v;
            s += used;
            if (*s == ',') s++;
        }
    }
    if (ids != NULL) {
        const char *s = ids;
        for (int ci = 0; ci < cinfo.num_components && *s; ci++) {
            cinfo.comp_info[ci].component_id = (int)strtol(s, (char **)&s, 0);
            if (*s == ',') s++;
        }
    }
    if (jfif >= 0) cinfo.write_JFIF_header = (boolean)jfif;
    if (adobe >= 0) cinfo.write_Adobe_marker = (boolean)adobe;
    if (progressive) jpeg_simple_progression(&cinfo);
    if (separate) {
        for (int ci = 0; ci < cinfo.num_components; ci++) {
            memset(&scans[ci], 0, sizeof scans[ci]);
            scans[ci].comps_in_scan = 1;
            scans[ci].component_index[0] = ci;
            scans[ci].Ss = 0;
            scans[ci].Se = 63;
        }
        cinfo.scan_info = scans;
        cinfo.num_scans = cinfo.num_components;
    }
    cinfo.restart_interval = (unsigned)restart;

    if (random_coefs) {
        write_random_coefficients(&cinfo, qmax);
        jpeg_finish_compress(&cinfo);
        jpeg_destroy_compress(&cinfo);
        fclose(out);
        free(pixels);
        return 0;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pixels + (size_t)cinfo.next_scanline * width * comps;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(out);
    free(pixels);
    return 0;
}
