/* A forward-only driver around llm.c's CPU reference (train_gpt2.c, built with -DTESTING so its
 * main is left out), used by `imc bench lm --llmc DIR` to time llm.c on the same checkpoint:
 *   llmc_forward CHECKPOINT TOKENS_FILE T RUNS LOGITS_OUT
 * TOKENS_FILE holds T int32 ids. One untimed warm-up forward (llm.c allocates its activations on
 * the first call), then RUNS timed ones, each printed as "seconds S". LOGITS_OUT receives the
 * logits (vocab floats each) of positions 0, T/2 and T-1 of the last run. Last it prints
 * "peak_rss_kib N", this process's own high-water mark (VmHWM: getrusage's ru_maxrss would
 * include the parent's memory inherited through exec). */
#include "train_gpt2.c"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s CHECKPOINT TOKENS_FILE T RUNS LOGITS_OUT\n", argv[0]);
        return 2;
    }
    const int T = atoi(argv[3]), runs = atoi(argv[4]);
    GPT2 model;
    gpt2_build_from_checkpoint(&model, argv[1]);
    int* tokens = (int*)mallocCheck((size_t)T * sizeof(int));
    FILE* in = fopenCheck(argv[2], "rb");
    freadCheck(tokens, sizeof(int), (size_t)T, in);
    fcloseCheck(in);
    gpt2_forward(&model, tokens, NULL, 1, (size_t)T);
    for (int r = 0; r < runs; ++r) {
        const double start = now_s();
        gpt2_forward(&model, tokens, NULL, 1, (size_t)T);
        printf("seconds %.9f\n", now_s() - start);
    }
    FILE* out = fopenCheck(argv[5], "wb");
    const int positions[3] = {0, T / 2, T - 1};
    const size_t Vp = model.config.padded_vocab_size, V = model.config.vocab_size;
    for (int i = 0; i < 3; ++i) fwrite(model.acts.logits + (size_t)positions[i] * Vp, sizeof(float), V, out);
    fcloseCheck(out);
    FILE* status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, "VmHWM:", 6) == 0) printf("peak_rss_kib %ld\n", atol(line + 6));
    if (status) fclose(status);
    gpt2_free(&model);
    free(tokens);
    return 0;
}
