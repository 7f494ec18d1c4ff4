#!/usr/bin/python3
"""Writes the small tokenizer fixtures of the CLI tests (run from this folder; the output is committed).

tiny-bytelevel      byte-level BPE: the 256 byte characters at ids 0..255, merges building "hello" and " world",
                    an added special token <|end|> = 300, GPT-2 pre-tokenizer
tiny-sentencepiece  SentencePiece-style BPE with byte fallback: <unk>, <0x00>..<0xFF>, '▁', a few words
tiny-tiktoken       the same bytes and merges as tiny-bytelevel, as a tiktoken rank file
bad-merges          a merge naming a token that is not in the vocabulary
only-config         a directory with tokenizer_config.json and no vocabulary
"""
import base64, json, os


def byte_level_map():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


BL = byte_level_map()


def bl(s):
    return "".join(BL[b] for b in s.encode("utf-8"))


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


words = ["he", "ll", "hell", "hello", " w", " wo", " wor", " worl", " world"]
merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (" ", "w"), (" w", "o"), (" wo", "r"), (" wor", "l"),
          (" worl", "d")]
vocab = {BL[b]: b for b in range(256)}
for i, w in enumerate(words):
    vocab[bl(w)] = 256 + i
write("tiny-bytelevel/tokenizer.json", {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 300, "content": "<|end|>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": None,
    "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "vocab": vocab, "merges": [bl(a) + " " + bl(b) for a, b in merges]}})

os.makedirs("tiny-tiktoken", exist_ok=True)
with open("tiny-tiktoken/tiny.tiktoken", "w") as f:
    for b in range(256):
        f.write(base64.b64encode(bytes([b])).decode() + " " + str(b) + "\n")
    for i, w in enumerate(words):
        f.write(base64.b64encode(w.encode()).decode() + " " + str(256 + i) + "\n")

sp = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + ["▁", "h", "e", "l", "o", "▁h", "▁he", "ll",
                                                                       "▁hell", "▁hello"]
write("tiny-sentencepiece/tokenizer.json", {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None, "post_processor": None,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
              "vocab": {t: i for i, t in enumerate(sp)},
              "merges": ["▁ h", "▁h e", "l l", "▁he ll", "▁hell o"]}})

write("bad-merges/tokenizer.json", {
    "added_tokens": [], "normalizer": None, "pre_tokenizer": None,
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "ab zz"]}})
write("only-config/tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast"})
