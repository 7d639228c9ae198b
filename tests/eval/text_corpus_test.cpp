// Tests data/text_corpus: the three corpus kinds, stable order, limits, config parsing and the
// errors that name the path.
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
  spec.path = dir.string();
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
    CHECK(docs[0].id == "1");
    CHECK(docs[1].id == "3");
    CHECK(docs[2].id == "4");
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
    CHECK(spec.path == seer::config::resolve_project_path("assets/books").string());
    CHECK(fs::path(spec.path).is_absolute() == seer::config::project_root().is_absolute());
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

TEST_CASE("embedded_books config loads the six novels", "[eval][corpus]") {
  const fs::path config = fs::path(SEER_SOURCE_DIR) / "configs/data/embedded_books.yaml";
  // A group file holds the section's contents; composition places it under `data`.
  YAML::Node root;
  root["data"] = YAML::LoadFile(config.string());
  const std::string relative = root["data"]["path"].as<std::string>();
  root["data"]["path"] = (fs::path(SEER_SOURCE_DIR) / relative).string();
  const auto spec = parse_yaml(root);
  if (!fs::exists(fs::path(spec.path) / "emma.txt")) {
    SEER_SKIP("assets/books is absent: run scripts/fetch_books.sh");
  }
  const auto docs = load_text_corpus(spec);
  REQUIRE(docs.size() == 6);
  CHECK(docs[0].id == "emma.txt");
  CHECK(docs[5].id == "sense_and_sensibility.txt");
  for (const auto& doc : docs) {
    CAPTURE(doc.id);
    CHECK(doc.text.size() > 400000);   // the shortest novel, Northanger Abbey, is ~433 kB
  }
  CHECK(docs[0].text.rfind("EMMA\n", 0) == 0);
}
