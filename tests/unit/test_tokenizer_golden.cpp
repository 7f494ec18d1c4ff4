// The encoder reproduces ../shared/data/golden/tokenizer-encodings.jsonl (ids produced by tokenizers.js 0.2.0,
// add_special_tokens = false) exactly: one test per tokenizer, so that a failure names the tokenizer and line.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fromscratch/tokenizer/encoder.hpp"
#include "test_support.hpp"

using namespace fromscratch::tokenizer;
using namespace fromscratch::test;
using nlohmann::json;

namespace {

// The 15 tokenizer directories the golden file covers (GoldenFile.CoversExactlyTheseTokenizers keeps this list
// honest: a tokenizer added to the golden file fails that test until it is listed here).
const std::vector<std::string> kGoldenTokenizers = {
    "Qwen_Qwen1.5-tokenizer",
    "Qwen_Qwen2.5-tokenizer",
    "Qwen_Qwen3-tokenizer_via-Qwen3-4B",
    "deepseek-ai_DeepSeek-V3",
    "google_gemma-2-tokenizer",
    "google_gemma-3-tokenizer_via-unsloth-gemma-3-1b-it",
    "google_gemma-tokenizer_via-beomi-gemma-mling-7b",
    "huggyllama_llama-7b",
    "ibm-granite_granite-3.1-1b-a400m-instruct",
    "meta-llama_Llama-2-7b-chat-hf",
    "meta-llama_Llama-3.1-tokenizer_via-Xenova-llama3-tokenizer-new",
    "meta-llama_Meta-Llama-3-8B",
    "mistralai_Mixtral-8x7B-Instruct-v0.1",
    "mistralai_Mixtral-8x7B-v0.1",
    "openai_gpt-oss-20b",
};

struct GoldenLine {
  int line;
  std::string text;
  std::vector<uint32_t> ids;
};

const std::map<std::string, std::vector<GoldenLine>>& golden() {
  static const std::map<std::string, std::vector<GoldenLine>> lines = [] {
    std::map<std::string, std::vector<GoldenLine>> out;
    std::ifstream in(shared_data() / "golden" / "tokenizer-encodings.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json j = json::parse(line);
      out[j["tokenizer"].get<std::string>()].push_back(
          {j["line"].get<int>(), j["text"].get<std::string>(), j["ids"].get<std::vector<uint32_t>>()});
    }
    return out;
  }();
  return lines;
}

std::string show(const std::vector<uint32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

class GoldenEncoding : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(GoldenFile, CoversExactlyTheseTokenizers) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  std::set<std::string> in_file;
  for (const auto& [name, lines] : golden()) in_file.insert(name);
  EXPECT_EQ(in_file, std::set<std::string>(kGoldenTokenizers.begin(), kGoldenTokenizers.end()));
}

TEST_P(GoldenEncoding, ReproducesEveryLine) {
  FROMSCRATCH_REQUIRE_SHARED_DATA();
  const std::string& name = GetParam();
  auto it = golden().find(name);
  ASSERT_NE(it, golden().end()) << name << " has no golden lines";
  ASSERT_GT(it->second.size(), 20u);
  Tokenizer tok = load_tokenizer(shared_data() / "models" / name);
  Encoder encoder(tok);
  for (const GoldenLine& g : it->second)
    EXPECT_EQ(show(encoder.encode(g.text)), show(g.ids)) << name << " line " << g.line << ": " << g.text;
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GoldenEncoding, ::testing::ValuesIn(kGoldenTokenizers),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string id;
                           for (char c : info.param) id.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
                           return id;
                         });
