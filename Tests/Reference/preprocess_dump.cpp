// Dumps llama.cpp's image preprocessing for an idefics3 (SmolVLM) mmproj: the f32 tiles that
// mtmd would encode, exactly as mtmd computes them. Reference-generation tooling only (built by
// Tests/Reference/build_preprocess_dump.sh against the headers of the llama-cpp-python sdist and
// linked to the installed libmtmd.so); never built by CI.
//
//   preprocess_dump MMPROJ RGB_FILE WIDTH HEIGHT OUT_FILE [IMAGE_MAX_TOKENS]
//
// RGB_FILE: WIDTH*HEIGHT*3 bytes, row-major interleaved RGB (what mtmd_bitmap_get_data returns
// for an image decoded by mtmd_helper_bitmap_init_from_file). IMAGE_MAX_TOKENS: as
// mtmd_context_params.image_max_tokens (llama-mtmd-cli --image-max-tokens); default -1.
//
// The preprocessor is built the way mtmd_context::init_vision does for PROJECTOR_TYPE_IDEFICS3:
// clip_init(mmproj) (same clip_context_params mtmd passes, tensors not loaded, no warmup), then
// mtmd_image_preprocessor_idefics3(ctx_v).preprocess(clip_image_u8). mtmd_tokenizer::add_media
// copies the bitmap into a clip_image_u8 the same way.
//
// OUT_FILE (little-endian):
//   char[8]  "PPDUMP01"
//   i32 grid_x, grid_y, n_entries, has_overview
//   n_entries x { i32 nx, ny; f32 data[ny*nx*3] }   slices, in the preprocessor's order (row-major)
//   if has_overview: { i32 nx, ny; f32 data[ny*nx*3] }
// f32 layout: row-major, interleaved RGB (clip_image_f32's buffer), normalized (x/255 - mean)/std.
// stdout: one JSON line with the clip hyper-parameters that steer preprocessing.
//
// Self-check: with PREPROCESS_DUMP_ENCODE=FILE set, the tensors are loaded as well and every
// dumped image (slices, then overview) is run through clip_image_encode (2 threads); FILE gets
// the f32 embeddings concatenated. make_reference.py compares them with mtmd_encode_chunk's
// output to prove the dump is exactly what mtmd encodes.

#include "clip.h"
#include "clip-impl.h"
#include "clip-model.h"
#include "mtmd.h"
#include "mtmd-image.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

static void quiet_log(enum ggml_log_level level, const char * text, void * /*user*/) {
    if (level == GGML_LOG_LEVEL_ERROR) {
        std::fputs(text, stderr);
    }
}

static void put_i32(std::ofstream & f, int32_t v) { f.write(reinterpret_cast<const char *>(&v), 4); }

static void put_image(std::ofstream & f, const clip_image_f32 & img) {
    put_i32(f, img.nx());
    put_i32(f, img.ny());
    const std::vector<float> & buf = img.get_ro_buf();
    if (buf.size() != (size_t) img.nx() * img.ny() * 3) {
        std::fprintf(stderr, "unexpected buffer size %zu for %dx%d\n", buf.size(), img.nx(), img.ny());
        std::exit(1);
    }
    f.write(reinterpret_cast<const char *>(buf.data()), buf.size() * sizeof(float));
}

int main(int argc, char ** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: %s MMPROJ RGB_FILE WIDTH HEIGHT OUT_FILE [IMAGE_MAX_TOKENS]\n", argv[0]);
        return 2;
    }
    const char * mmproj = argv[1];
    const int width = std::atoi(argv[3]);
    const int height = std::atoi(argv[4]);
    const int image_max_tokens = argc > 6 ? std::atoi(argv[6]) : -1;
    const char * encode_out = std::getenv("PREPROCESS_DUMP_ENCODE");
    if (!std::getenv("PREPROCESS_DUMP_VERBOSE")) {
        mtmd_log_set(quiet_log, nullptr);
    }

    std::ifstream in(argv[2], std::ios::binary);
    std::vector<uint8_t> rgb((size_t) width * height * 3);
    in.read(reinterpret_cast<char *>(rgb.data()), (std::streamsize) rgb.size());
    if (!in || in.peek() != EOF) {
        std::fprintf(stderr, "%s is not %dx%dx3 bytes\n", argv[2], width, height);
        return 1;
    }

    // as mtmd_context's constructor (mtmd_context_params_default, use_gpu false), but without
    // loading tensor data or running the warmup graph unless encoding: preprocessing needs hparams only
    clip_context_params cparams {
        /* use_gpu           */ false,
        /* device            */ nullptr,
        /* flash_attn_type   */ CLIP_FLASH_ATTN_TYPE_AUTO,
        /* image_min_tokens  */ -1,
        /* image_max_tokens  */ image_max_tokens,
        /* warmup            */ encode_out != nullptr,  // mtmd warms up (it settles flash-attn auto)
        /* cb_eval           */ nullptr,
        /* cb_eval_user_data */ nullptr,
        /* no_alloc          */ encode_out == nullptr,
        /* progress_callback */ nullptr,
        /* progress_callback_user_data */ nullptr,
    };
    clip_init_result res = clip_init(mmproj, cparams);
    if (!res.ctx_v) {
        std::fprintf(stderr, "clip_init failed for %s\n", mmproj);
        return 1;
    }
    const clip_hparams & hp = *clip_get_hparams(res.ctx_v);

    // as mtmd_tokenizer::add_media: mtmd_bitmap -> clip_image_u8
    clip_image_u8 img_u8;
    img_u8.set_size({width, height}, false);
    img_u8.cpy_buf(rgb);

    mtmd_image_preprocessor_idefics3 preproc(res.ctx_v);
    mtmd_image_preproc_out out = preproc.preprocess(img_u8);

    std::ofstream f(argv[5], std::ios::binary);
    f.write("PPDUMP01", 8);
    put_i32(f, out.grid_x);
    put_i32(f, out.grid_y);
    put_i32(f, (int32_t) out.entries.size());
    put_i32(f, out.has_overview() ? 1 : 0);
    for (const auto & e : out.entries) {
        put_image(f, e);
    }
    if (out.has_overview()) {
        put_image(f, out.overview);
    }
    f.close();
    if (!f) {
        std::fprintf(stderr, "write failed: %s\n", argv[5]);
        return 1;
    }

    if (encode_out) {
        std::ofstream fe(encode_out, std::ios::binary);
        std::vector<const clip_image_f32 *> all;
        for (const auto & e : out.entries) all.push_back(&e);
        if (out.has_overview()) all.push_back(&out.overview);
        for (const clip_image_f32 * im : all) {
            // as mtmd_encode_impl: the caller sizes the output
            std::vector<float> embd((size_t) clip_n_output_tokens(res.ctx_v, im) * clip_n_mmproj_embd(res.ctx_v));
            if (!clip_image_encode(res.ctx_v, 2, im, embd)) {
                std::fprintf(stderr, "clip_image_encode failed\n");
                return 1;
            }
            fe.write(reinterpret_cast<const char *>(embd.data()), embd.size() * sizeof(float));
        }
    }

    std::printf("{\"image_size\": %d, \"patch_size\": %d, \"n_merge\": %d, \"image_longest_edge\": %d, "
                "\"image_min_pixels\": %d, \"image_max_pixels\": %d, \"image_resize_algo\": %d, "
                "\"image_resize_algo_rf\": %d, \"image_resize_algo_ov\": %d, \"image_pad_rf\": %d, \"image_pad_ov\": %d, "
                "\"image_mean\": [%.9g, %.9g, %.9g], \"image_std\": [%.9g, %.9g, %.9g]}\n",
                hp.image_size, hp.patch_size, hp.n_merge, hp.image_longest_edge, hp.image_min_pixels,
                hp.image_max_pixels, (int) hp.image_resize_algo, (int) hp.image_resize_algo_rf,
                (int) hp.image_resize_algo_ov, (int) hp.image_pad_rf, (int) hp.image_pad_ov,
                hp.image_mean[0], hp.image_mean[1], hp.image_mean[2], hp.image_std[0], hp.image_std[1], hp.image_std[2]);
    clip_free(res.ctx_v);
    return 0;
}
