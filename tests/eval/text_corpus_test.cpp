// Tests data/text_corpus: the three corpus kinds, several paths, include / exclude, stable order,
// limits, config parsing and the errors that name the path.
#include "data/text_corpus.h"

#include "catch.h"
#include "core/config/config_error.h"
#include "core/config/config_tree.h"
#include "core/config/paths.h"
#include "data/data_error.h"
#include "eval_test_util.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

using seer::data::load_text_corpus;
using seer::data::parse_text_corpus;
using seer::data::TextCorpusSpec;
using seer::test::Contains;
namespace fs = std::filesystem;

namespace {

TextCorpusSpec parse_yaml(const YAML::Node& root) {
  seer::config::ConfigTree tree(root);
  return parse_text_corpus(seer::config::ConfigReader(tree, "data"));
}

YAML::Node data_section(const std::string& kind, const std::string& path) {
  YAML::Node root;
  root["data"]["kind"] = kind;
  root["data"]["path"] = path;
  return root;
}

}  // namespace

TEST_CASE("text_dir reads .txt books sorted by name and ignores other files", "[eval][corpus]") {
  const fs::path dir = seer::test::fresh_tmp_dir("corpus_dir");
  seer::test::write_file(dir / "b.txt", "second book\n");
  seer::test::write_file(dir / "a.txt", "first book\nline 2\n");
  seer::test::write_file(dir / "C.txt", "upper case sorts first\n");
  seer::test::write_file(dir / "README.md", "not a book");
  fs::create_directories(dir / "sub.txt");   // a folder named like a book is not a book

  TextCorpusSpec spec;
  spec.kind = "text_dir";
  spec.paths = {dir.string()};
  const int64_t max_docs = GENERATE(0, 1, 2, 3, 7);
  CAPTURE(max_docs);
  spec.max_docs = max_docs;
  const auto docs = load_text_corpus(spec);
  const std::vector<std::string> all_ids = {"C.txt", "a.txt", "b.txt"};
  const size_t expected = max_docs == 0 ? 3 : std::min<size_t>(3, max_docs);
  REQUIRE(docs.size() == expected);
  for (size_t i = 0; i < docs.size(); ++i) CHECK(docs[i].id == all_ids[i]);
  if (docs.size() >= 2) CHECK(docs[1].text == "first book\nline 2\n");
}

TEST_CASE("text_file reads one document byte for byte", "[eval][corpus]") {
  const fs::path dir = seer::test::fresh_tmp_dir("corpus_file");
  const std::string text = "caf\xc3\xa9 \r\n bytes kept as they are\n";
  seer::test::write_file(dir / "one.txt", text);
  const auto spec = parse_yaml(data_section("text_file", (dir / "one.txt").string()));
  const auto docs = load_text_corpus(spec);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].id == "one.txt");
  CHECK(docs[0].text == text);
}

TEST_CASE("jsonl reads the configured field in file order", "[eval][corpus]") {
  const fs::path dir = seer::test::fresh_tmp_dir("corpus_jsonl");
  const fs::path file = dir / "books.jsonl";
  seer::test::write_file(file,
                         "{\"text\": \"one\\nline\", \"body\": \"x\"}\n"
                         "\n"
                         "{\"text\": \"caf\\u00e9\", \"body\": \"y\"}\r\n"
                         "{\"text\": \"three\", \"body\": \"z\"}\n");
  SECTION("default field, blank lines skipped, ids are line numbers") {
    const auto docs = load_text_corpus(parse_yaml(data_section("jsonl", file.string())));
    REQUIRE(docs.size() == 3);
    CHECK(docs[0].text == "one\nline");
    CHECK(docs[1].text == "caf\xc3\xa9");
    CHECK(docs[2].text == "three");
    CHECK(docs[0].id == "books.jsonl:1");
    CHECK(docs[1].id == "books.jsonl:3");
    CHECK(docs[2].id == "books.jsonl:4");
    CHECK(docs[2].file.string() == file.string());
  }
  SECTION("other field and max_docs") {
    YAML::Node root = data_section("jsonl", file.string());
    root["data"]["field"] = "body";
    root["data"]["max_docs"] = 2;
    const auto docs = load_text_corpus(parse_yaml(root));
    REQUIRE(docs.size() == 2);
    CHECK(docs[0].text == "x");
    CHECK(docs[1].text == "y");
  }
  SECTION("missing field names path and line") {
    YAML::Node root = data_section("jsonl", file.string());
    root["data"]["field"] = "content";
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(root)),
                      Contains(file.string() + ":1") && Contains("'content'"));
  }
}

TEST_CASE("corpus errors name the path", "[eval][corpus]") {
  const fs::path dir = seer::test::fresh_tmp_dir("corpus_errors");
  SECTION("missing folder") {
    const std::string missing = (dir / "nope").string();
    CHECK_THROWS_AS(load_text_corpus(parse_yaml(data_section("text_dir", missing))),
                    seer::data::DataError);
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(data_section("text_dir", missing))),
                      Contains(missing));
  }
  SECTION("folder without books") {
    seer::test::write_file(dir / "empty" / "notes.md", "x");
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(data_section("text_dir", (dir / "empty").string()))),
                      Contains("no .txt files"));
  }
  SECTION("missing file") {
    const std::string missing = (dir / "gone.txt").string();
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(data_section("text_file", missing))),
                      Contains(missing));
  }
  SECTION("bad JSON line") {
    seer::test::write_file(dir / "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
    CHECK_THROWS_WITH(
        load_text_corpus(parse_yaml(data_section("jsonl", (dir / "bad.jsonl").string()))),
        Contains((dir / "bad.jsonl").string() + ":2") && Contains("invalid JSON"));
  }
  SECTION("text field that is not a string") {
    seer::test::write_file(dir / "num.jsonl", "{\"text\": 3}\n");
    CHECK_THROWS_WITH(
        load_text_corpus(parse_yaml(data_section("jsonl", (dir / "num.jsonl").string()))),
        Contains("num.jsonl:1") && Contains("expected a string"));
  }
}

TEST_CASE("data section parsing rejects bad keys and resolves relative paths", "[eval][corpus]") {
  SECTION("relative path is taken against the project root") {
    const auto spec = parse_yaml(data_section("text_dir", "assets/books"));
    REQUIRE(spec.paths.size() == 1);
    CHECK(spec.paths[0] == seer::config::resolve_project_path("assets/books").string());
    CHECK(fs::path(spec.paths[0]).is_absolute() == seer::config::project_root().is_absolute());
    CHECK(spec.skip_tokens == 0);
    CHECK(spec.max_tokens == 0);
    CHECK(spec.max_docs == 0);
    CHECK(spec.field == "text");
  }
  SECTION("unknown key") {
    YAML::Node root = data_section("text_dir", "assets/books");
    root["data"]["max_doc"] = 3;
    CHECK_THROWS_AS(parse_yaml(root), seer::config::ConfigError);
    CHECK_THROWS_WITH(parse_yaml(root), Contains("max_doc"));
  }
  SECTION("unknown kind lists the choices") {
    CHECK_THROWS_WITH(parse_yaml(data_section("parquet", "x")),
                      Contains("parquet") && Contains("text_dir"));
  }
  SECTION("field only with jsonl") {
    YAML::Node root = data_section("text_dir", "assets/books");
    root["data"]["field"] = "body";
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.field"));
  }
  SECTION("negative max_docs") {
    YAML::Node root = data_section("text_dir", "assets/books");
    root["data"]["max_docs"] = -1;
    CHECK_THROWS_WITH(parse_yaml(root), Contains("max_docs"));
  }
}

TEST_CASE("several paths are read in order, include / exclude pick files by name", "[eval][corpus]") {
  const fs::path dir = seer::test::fresh_tmp_dir("corpus_paths");
  seer::test::write_file(dir / "one" / "b.txt", "b1");
  seer::test::write_file(dir / "one" / "a.txt", "a1");
  seer::test::write_file(dir / "two" / "a2.txt", "a2");
  seer::test::write_file(dir / "two" / "c.txt", "c2");
  YAML::Node root;
  root["data"]["kind"] = "text_dir";
  root["data"]["path"].push_back((dir / "two").string());
  root["data"]["path"].push_back((dir / "one").string());
  auto ids = [](const std::vector<seer::data::TextDoc>& docs) {
    std::vector<std::string> out;
    for (const auto& d : docs) out.push_back(d.id);
    return out;
  };
  SECTION("all files, the paths in the order given, names sorted inside each folder") {
    const auto docs = load_text_corpus(parse_yaml(root));
    CHECK(ids(docs) == std::vector<std::string>{"a2.txt", "c.txt", "a.txt", "b.txt"});
    CHECK(docs[3].text == "b1");
    CHECK(docs[3].file.string() == (dir / "one" / "b.txt").string());
  }
  SECTION("include") {
    root["data"]["include"].push_back("b.txt");
    root["data"]["include"].push_back("a2.txt");
    CHECK(ids(load_text_corpus(parse_yaml(root))) == std::vector<std::string>{"a2.txt", "b.txt"});
  }
  SECTION("exclude, then max_docs") {
    root["data"]["exclude"].push_back("c.txt");
    root["data"]["max_docs"] = 2;
    CHECK(ids(load_text_corpus(parse_yaml(root))) == std::vector<std::string>{"a2.txt", "a.txt"});
  }
  SECTION("a name that matches no file") {
    root["data"]["exclude"].push_back("d.txt");
    CHECK_THROWS_AS(load_text_corpus(parse_yaml(root)), seer::data::DataError);
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(root)), Contains("'d.txt'") && Contains("exclude"));
  }
  SECTION("excluding every file") {
    for (const char* n : {"a.txt", "b.txt", "a2.txt", "c.txt"}) root["data"]["exclude"].push_back(n);
    CHECK_THROWS_WITH(load_text_corpus(parse_yaml(root)), Contains("every .txt file is excluded"));
  }
  SECTION("text_file paths") {
    YAML::Node files;
    files["data"]["kind"] = "text_file";
    files["data"]["path"].push_back((dir / "two" / "c.txt").string());
    files["data"]["path"].push_back((dir / "one" / "a.txt").string());
    const auto docs = load_text_corpus(parse_yaml(files));
    CHECK(ids(docs) == std::vector<std::string>{"c.txt", "a.txt"});
  }
}

TEST_CASE("include / exclude and windows are checked when parsed", "[eval][corpus]") {
  YAML::Node root = data_section("text_dir", "assets/books");
  SECTION("include and exclude together") {
    root["data"]["include"].push_back("a.txt");
    root["data"]["exclude"].push_back("b.txt");
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.exclude") && Contains("not both"));
  }
  SECTION("include with text_file") {
    root["data"]["kind"] = "text_file";
    root["data"]["include"].push_back("a.txt");
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.include") && Contains("text_dir"));
  }
  SECTION("an empty include list") {
    root["data"]["include"] = YAML::Node(YAML::NodeType::Sequence);
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.include") && Contains("non-empty"));
  }
  SECTION("a path in include") {
    root["data"]["include"].push_back("sub/a.txt");
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.include") && Contains("not a file name"));
  }
  SECTION("a name twice") {
    root["data"]["exclude"].push_back("a.txt");
    root["data"]["exclude"].push_back("a.txt");
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.exclude") && Contains("twice"));
  }
  SECTION("an empty path list") {
    root["data"]["path"] = YAML::Node(YAML::NodeType::Sequence);
    CHECK_THROWS_WITH(parse_yaml(root), Contains("data.path"));
  }
  SECTION("negative windows") {
    const char* key = GENERATE("skip_tokens", "max_tokens");
    CAPTURE(key);
    root["data"][key] = -1;
    CHECK_THROWS_WITH(parse_yaml(root), Contains(std::string("data.") + key));
  }
}

TEST_CASE("embedded_books config: train, eval and calib share no book", "[eval][corpus]") {
  const fs::path config = fs::path(SEER_SOURCE_DIR) / "configs/data/embedded_books.yaml";
  // A group file holds the section's contents; composition places it under `data`.
  const YAML::Node data = YAML::LoadFile(config.string());
  auto split = [&](const std::string& name) {
    YAML::Node root;
    root["data"] = YAML::Clone(data[name]);
    if (root["data"]["path"].IsSequence()) {
      YAML::Node paths;
      for (const auto& p : root["data"]["path"]) {
        paths.push_back((fs::path(SEER_SOURCE_DIR) / p.as<std::string>()).string());
      }
      root["data"]["path"] = paths;
    } else {
      root["data"]["path"] = (fs::path(SEER_SOURCE_DIR) / root["data"]["path"].as<std::string>()).string();
    }
    return parse_yaml(root);
  };
  const auto train = split("train"), eval = split("eval"), calib = split("calib");
  if (!fs::exists(fs::path(SEER_SOURCE_DIR) / "assets/books/emma.txt") ||
      !fs::exists(fs::path(SEER_SOURCE_DIR) / "assets/corpus/kjv/README.md")) {
    SEER_SKIP("assets/books or assets/corpus is absent: run scripts/setup.sh");
  }
  const auto eval_docs = load_text_corpus(eval);
  const auto calib_docs = load_text_corpus(calib);
  REQUIRE(eval_docs.size() == 1);
  CHECK(eval_docs[0].id == "persuasion.txt");
  REQUIRE(calib_docs.size() == 1);
  CHECK(calib_docs[0].id == "northanger_abbey.txt");
  // Four novels, Moby Dick, 38 plays, 66 books of the Bible; listing files reads none of them.
  const auto train_files = seer::data::list_corpus_files(train);
  REQUIRE(train_files.size() == 4 + 1 + 38 + 66);
  CHECK(train_files.front().filename().string() == "emma.txt");
  CHECK(train_files[4].filename().string() == "moby_dick.txt");
  CHECK(train_files.back().filename().string() == "66_revelation.txt");
  for (const auto& f : train_files) {
    const std::string name = f.filename().string();
    CAPTURE(name);
    CHECK(name != "persuasion.txt");
    CHECK(name != "northanger_abbey.txt");
  }
}
