// imc infer: validation perplexity of the language model with a chosen attention backend, or
// text generation from a prompt.
#include "cli.hpp"

#include "nn/nn.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <string>

namespace {

struct InferArgs {
    std::string workload = "lm";
    std::string attention = "ideal";
    std::string weights = std::string(IMC_SOURCE_DIR) + "/models/char-lm.safetensors";
    std::string fortunes = "/usr/share/games/fortunes";
    std::size_t tokens = 16384;
    bool json = false;
    std::string prompt;
    bool generate = false;
    imc::nn::GenerateOptions generation;
    int threads = 0;
};

void run(const InferArgs& args) {
    if (args.workload != "lm") throw imc::cli::UsageError("unknown workload '" + args.workload + "' (known: lm)");
    imc::nn::setThreadCount(args.threads);
    const imc::nn::Model model = imc::nn::loadModel(args.weights);
    if (auto t = model.metadata.find("tokenizer"); t != model.metadata.end() && t->second != "byte")
        throw std::runtime_error("model " + args.weights + " uses tokenizer '" + t->second + "', only 'byte' is supported");
    auto backend = imc::nn::makeAttentionBackend(args.attention);

    if (args.generate) {
        const std::string text = imc::nn::generate(model, *backend, args.prompt, args.generation);
        if (args.json)
            std::printf("%s\n", nlohmann::json{{"prompt", args.prompt}, {"text", text}, {"attention", backend->name()}}
                                    .dump()
                                    .c_str());
        else
            std::printf("%s%s\n", args.prompt.c_str(), text.c_str());
        return;
    }

    const auto corpus = imc::nn::loadFortunes(args.fortunes);
    const auto result = imc::nn::evaluate(model, *backend, corpus.validation, args.tokens);
    const double tokensPerSecond = double(result.tokens) / result.seconds;
    if (args.json) {
        std::printf("%s\n", nlohmann::json{{"workload", args.workload},
                                           {"attention", backend->name()},
                                           {"perplexity", result.perplexity},
                                           {"loss", result.loss},
                                           {"tokens", result.tokens},
                                           {"tokens_per_s", tokensPerSecond},
                                           {"seconds", result.seconds},
                                           {"threads", imc::nn::threadCount()}}
                                .dump()
                                .c_str());
    } else {
        std::printf("%s attention: perplexity %.4f (%.4f nats/char) over %zu held-out tokens, %.0f tokens/s\n",
                    backend->name().c_str(), result.perplexity, result.loss, result.tokens, tokensPerSecond);
    }
}

const imc::cli::CommandRegistration registration{
    "infer", "Language-model perplexity on held-out fortunes, or text generation", [](CLI::App& app) {
        auto args = std::make_shared<InferArgs>();
        app.add_option("--workload", args->workload, "Model to run (lm: character-level fortunes model)")
            ->capture_default_str();
        app.add_option("--attention", args->attention, "Attention backend by name")->capture_default_str();
        app.add_option("--weights", args->weights, "Model .safetensors file")->capture_default_str();
        app.add_option("--tokens", args->tokens, "Held-out tokens to score")->capture_default_str();
        app.add_option("--fortunes", args->fortunes, "Directory of fortune files")->capture_default_str();
        app.add_flag("--json", args->json, "Print one JSON object");
        auto* gen = app.add_option("--generate", args->prompt, "Generate text after this prompt instead");
        app.add_option("--max-new", args->generation.maxNewTokens, "Bytes to generate at most")->capture_default_str();
        app.add_option("--seed", args->generation.seed, "Sampling seed")->capture_default_str();
        app.add_option("--temperature", args->generation.temperature, "Sampling temperature (0: greedy)")
            ->capture_default_str();
        app.add_option("--threads", args->threads, "Worker threads (0: all cores)")->capture_default_str();
        app.callback([args, gen] {
            args->generate = gen->count() > 0;
            run(*args);
        });
    }};

}  // namespace
