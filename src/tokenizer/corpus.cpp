#include "fromscratch/tokenizer/corpus.hpp"

#include <nlohmann/json.hpp>

#include "fromscratch/core/errors.hpp"
#include "fromscratch/core/strings.hpp"
#include "fromscratch/tokenizer/token_identity.hpp"
#include "fromscratch/tokenizer/tokenizer.hpp"

namespace fromscratch::tokenizer {

// Written for this project (no third-party text). Each category mixes short and long sentences so that both
// frequent words and rarer compounds are represented; code and numbers are kept in the forms models meet most.
const Corpus& builtin_corpus() {
  static const Corpus corpus = {
      {"english", "The committee reviewed the proposal carefully before approving the new budget for next year."},
      {"english", "A tokenizer is cheap to copy and expensive to change, so derived models usually keep their parent's."},
      {"english", "She walked along the riverbank at dawn, counting herons and listening to the distant bells."},
      {"english", "Researchers compared the weights layer by layer and reported correlations with confidence intervals."},
      {"english", "Please don't forget: the meeting moved to Thursday afternoon, and we'll need everyone's slides."},
      {"english", "Unbelievably, the small bakery's sourdough outsold every supermarket loaf in the neighbourhood."},
      {"korean", "오늘 아침에는 비가 조금 내렸지만 오후에는 하늘이 맑게 개었습니다."},
      {"korean", "이 모델이 처음부터 학습되었는지 확인하려면 여러 가지 증거를 함께 살펴봐야 합니다."},
      {"korean", "서울에서 부산까지 기차를 타면 두 시간 반 정도 걸립니다."},
      {"korean", "토크나이저의 어휘가 겹친다고 해서 가중치를 재사용했다는 뜻은 아닙니다."},
      {"korean", "도서관은 평일 오전 아홉 시에 문을 열고 주말에는 오후 다섯 시에 닫습니다."},
      {"chinese", "今天的天气很好，我们决定下午去公园散步。"},
      {"chinese", "研究人员比较了两个模型的词表，发现它们共享大约一半的词元。"},
      {"chinese", "这家小餐馆的饺子非常有名，每天中午都有人排队。"},
      {"chinese", "分词器相同只能说明复用了分词器，并不能证明复用了模型权重。"},
      {"chinese", "他在大学里学习计算机科学，毕业后加入了一家初创公司。"},
      {"japanese", "今日は朝から雨が降っていたので、家で本を読んで過ごしました。"},
      {"japanese", "このモデルがゼロから学習されたかどうかを確かめるのは簡単ではありません。"},
      {"japanese", "駅前の新しいカフェでは、季節限定のケーキが人気を集めています。"},
      {"japanese", "トークナイザーの語彙が重なっていても、重みが同じだとは限りません。"},
      {"japanese", "来週の会議では、プロジェクトの進捗と今後の予定について話し合います。"},
      {"code", "def merge_ranks(pairs):\n    return {pair: rank for rank, pair in enumerate(pairs)}"},
      {"code", "for (size_t i = 0; i < tokens.size(); ++i) {\n    counts[tokens[i]] += 1;\n}"},
      {"code", "const total = items.filter(x => x.active).map(x => x.price).reduce((a, b) => a + b, 0);"},
      {"code", "SELECT name, COUNT(*) AS n FROM models WHERE vocab_size > 100000 GROUP BY name ORDER BY n DESC;"},
      {"code", "if err != nil {\n\treturn fmt.Errorf(\"open %s: %w\", path, err)\n}"},
      {"code", "#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size() == 3 ? 0 : 1; }"},
      {"numbers", "In 2023 the population grew by 1.7% to 8,045,311,447 people."},
      {"numbers", "Pi is approximately 3.14159265358979, and e is about 2.718281828."},
      {"numbers", "Invoice 000742: 12 units at $19.99 each, total $239.88, due 2026-03-15."},
      {"numbers", "The model has 102,600,000,000 parameters, 12B active, trained on 19.7T tokens."},
      {"numbers", "Call +1 (555) 010-4477 between 09:30 and 17:45, or fax 0x1F40 if you must."},
      {"emoji", "Great job team! 🎉🎉 Let's celebrate 🍕🍻"},
      {"emoji", "Weather today: ☀️ then 🌧️ and maybe ⛈️ tonight."},
      {"emoji", "Family photo 👨‍👩‍👧‍👦 with flags 🇰🇷 🇯🇵 🇨🇳 🇺🇸"},
      {"emoji", "Thumbs up 👍🏽 and a heart ❤️ for the new release 🚀"},
      {"emoji", "Reactions: 😂😂😂 🤔 😅 🙏 💯"},
  };
  return corpus;
}

Corpus read_corpus(const std::string& path) {
  std::string text = read_small_file(path, 256u << 20);
  Corpus corpus;
  ProblemList problems(path, "line");
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      problems.add(str(line_no), "", "", "", str("malformed JSON: ", e.what()));
      continue;
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      problems.add(str(line_no), "text", "", "a string", "line is not an object with a \"text\" string");
      continue;
    }
    std::string category = "all";
    if (j.contains("category")) {
      if (!j["category"].is_string() || j["category"].get_ref<const std::string&>().empty()) {
        problems.add(str(line_no), "category", quote_untrusted(j["category"].dump(), 40), "a non-empty string",
                     "invalid category");
        continue;
      }
      category = j["category"].get<std::string>();
    }
    corpus.push_back({category, j["text"].get<std::string>()});
  }
  if (corpus.empty() && problems.empty()) problems.add("", "", "", "at least one line", "empty corpus");
  problems.throw_if_any();
  return corpus;
}

std::vector<std::string> corpus_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0, start = std::string::npos;
  while (i < text.size()) {
    size_t j = i;
    char32_t cp = utf8_next(text, j);
    if (is_js_whitespace(cp)) {
      if (start != std::string::npos) words.push_back(text.substr(start, i - start));
      start = std::string::npos;
    } else if (start == std::string::npos) {
      start = i;
    }
    i = j;
  }
  if (start != std::string::npos) words.push_back(text.substr(start));
  return words;
}

}  // namespace fromscratch::tokenizer
