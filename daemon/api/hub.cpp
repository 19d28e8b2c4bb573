// Model hub routes, in shapes close to the Hugging Face Hub's: files upload as content-
// addressed blobs (streamed to disk and hashed on the way, never whole in memory), then a
// commit names them by path and makes an immutable revision of owner/name in one journal
// transaction. An interrupted upload leaves no blob (and no revision): a commit names only
// blobs that arrived whole.
//
// Refused at commit, each with a message: unsafe paths (absolute, "..", backslashes, control
// characters, empty segments), duplicate paths, missing blobs, files of kinds the hub does not
// keep, content that is a pickle (it runs code when loaded), weights that do not look like
// their card's format, and a missing or broken model card (README.md front matter).
// Downloads (resolve) stream from disk, with ranges and ETags.
#include "daemon/api/routes.hpp"
#include "daemon/app/app.hpp"
#include "daemon/app/models.hpp"
#include "daemon/hub/blob_store.hpp"
#include "daemon/hub/model_card.hpp"
#include "daemon/http/http.hpp"

#include <boost/json.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>

namespace json = boost::json;

namespace potluck::daemon::api {
namespace {

constexpr std::size_t max_path_bytes = 255;
constexpr std::size_t max_files_per_revision = 1000;
constexpr std::uint64_t max_card_bytes = 1 << 20;
constexpr std::size_t max_model_name_chars = 96;

// Why `name` cannot name a model, or "": 1 to 96 letters, digits, '.', '_' and '-', not
// starting with '.' or '-'.
std::string model_name_problem(std::string_view name) {
  if (name.empty() || name.size() > max_model_name_chars) return "a model name is 1 to 96 characters";
  if (name.front() == '.' || name.front() == '-') return "a model name does not start with '.' or '-'";
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return "a model name holds only letters, digits, '.', '_' and '-'";
  return {};
}

// Why `path` cannot name a file of a model, or "".
std::string path_problem(std::string_view path) {
  if (path.empty() || path.size() > max_path_bytes) return "a path is 1 to 255 bytes";
  if (path.front() == '/') return "\"" + std::string(path) + "\" is absolute: paths are relative to the model's folder";
  if (path.find('\\') != std::string_view::npos) return "\"" + std::string(path) + "\" has a backslash: separate folders with '/'";
  for (unsigned char c : path)
    if (c < 0x20 || c == 0x7f) return "a path has a control character";
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto part = path.substr(start, end - start);
    if (part.empty()) return "\"" + std::string(path) + "\" has an empty folder name";
    if (part == "." || part == "..") return "\"" + std::string(path) + "\" leaves the model's folder (" + std::string(part) + ")";
    start = end + 1;
  }
  return {};
}

// The kinds of file a model may hold, by extension, and the card format their weights belong to.
struct file_kind {
  std::string_view extension;
  std::string_view format;  // "" for any (text, JSON)
};
constexpr file_kind file_kinds[] = {
    {".md", ""},          {".json", ""},         {".txt", ""},    {".model", ""},  // sentencepiece
    {".pt", "torchscript"}, {".ts", "torchscript"}, {".torchscript", "torchscript"},
    {".safetensors", "safetensors"}, {".onnx", "onnx"},
};

const file_kind* kind_of(std::string_view path) {
  for (const auto& k : file_kinds)
    if (path.size() > k.extension.size() && path.ends_with(k.extension)) return &k;
  return nullptr;
}

std::string head_bytes(const std::filesystem::path& file, std::size_t n) {
  std::ifstream in(file, std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  out.resize(static_cast<std::size_t>(in.gcount()));
  return out;
}

// Why this file's content may not be kept as `kind` in a model of `format`, or "".
std::string content_problem(const std::string& path, const std::string& head, const file_kind& kind, std::string_view format) {
  // A pickle stream starts with the PROTO opcode (0x80) and a protocol from 2 to 5.
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x80 && head[1] >= 2 && head[1] <= 5)
    return "\"" + path + "\" is a pickle, which runs code when it is loaded: export the model as TorchScript "
           "(torch.jit.save) or safetensors";
  if (kind.format.empty()) return {};
  if (kind.format != format)
    return "\"" + path + "\" holds " + std::string(kind.format) + " weights, but the card says format: " + std::string(format);
  if (kind.format == "torchscript" && !head.starts_with("PK\x03\x04"))
    return "\"" + path + "\" is not a TorchScript archive (a zip file, as torch.jit.save writes)";
  if (kind.format == "safetensors") {
    if (head.size() < 9) return "\"" + path + "\" is too short to be safetensors";
    std::uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(head[static_cast<std::size_t>(i)]);
    if (header == 0 || header > (100u << 20) || head[8] != '{') return "\"" + path + "\" is not safetensors (no JSON header)";
  }
  return {};
}

std::string revision_id(const std::string& repo, const std::string& parent, std::int64_t time_ms, std::int64_t author,
                        const std::vector<model_file>& files, const std::string& message) {
  std::string text = "repo " + repo + "\nparent " + parent + "\ntime " + std::to_string(time_ms) + "\nauthor " +
                     std::to_string(author) + "\nmessage " + message + "\n";
  for (const auto& f : files) text += f.path + " " + f.sha256 + " " + std::to_string(f.size) + "\n";
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  static const char digits[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 20; ++i) id += digits[digest[i] >> 4], id += digits[digest[i] & 0xf];
  return id;
}

json::object model_json(const model_record& m, const std::optional<model_revision>& rev) {
  json::array tags, labels;
  for (const auto& t : m.card.tags) tags.emplace_back(t);
  for (const auto& l : m.card.labels) labels.emplace_back(l);
  json::object o{{"id", m.owner + "/" + m.name},
                 {"author", m.owner},
                 {"sha", rev ? rev->id : m.head},
                 {"pipeline_tag", m.card.task},
                 {"task", m.card.task},
                 {"format", m.card.format},
                 {"license", m.card.license.empty() ? json::value(nullptr) : json::value(m.card.license)},
                 {"tags", tags},
                 {"downloads", m.downloads},
                 {"createdAt", iso8601(m.created_ms)},
                 {"lastModified", iso8601(m.updated_ms)},
                 {"cardData", json::object{{"task", m.card.task}, {"format", m.card.format}, {"labels", labels},
                                           {"license", m.card.license}}}};
  if (rev) {
    json::array siblings;
    for (const auto& f : rev->files)
      siblings.push_back(json::object{{"rfilename", f.path}, {"size", f.size}, {"sha256", f.sha256}});
    o["siblings"] = std::move(siblings);
    o["card"] = m.card.body;
  }
  return o;
}

// An upload's body into the blob store: hashed and written as it arrives.
class blob_sink final : public http::body_sink {
 public:
  blob_sink(hub::blob_store::writer writer, std::optional<std::string> expected)
      : writer_(std::move(writer)), expected_(std::move(expected)) {}
  std::optional<http::response> write(std::string_view chunk) override {
    try {
      writer_.write(chunk);
    } catch (const hub::blob_error& e) {
      return http::json_error(e.code() == "too_large" ? 413 : 500, e.code() == "too_large" ? "file_too_large" : "io", e.what());
    }
    return std::nullopt;
  }
  void finish(http::responder res) override {
    try {
      const auto ref = writer_.commit(expected_ ? std::optional<std::string_view>(*expected_) : std::nullopt);
      res.send(http::json(ref.existed ? 200 : 201, json::serialize(json::object{
                                                       {"sha256", ref.sha256}, {"size", ref.size}, {"existed", ref.existed}})));
    } catch (const hub::blob_error& e) {
      res.send(http::json_error(e.code() == "hash_mismatch" ? 422 : 500, e.code(), e.what()));
    }
  }
  void abort(std::string_view why) override { spdlog::info("hub: an upload was cut off: {}", why); }

 private:
  hub::blob_store::writer writer_;  // dropped unfinished by its destructor
  std::optional<std::string> expected_;
};

}  // namespace

void add_hub_routes(http::router& router, daemon_app& app) {
  // One file's bytes, streamed; ?sha256= (recommended) makes a corrupted upload fail.
  router.add_upload("PUT", "/api/blobs", app.options().max_model_file_bytes,
                    [&app](http::request& req, http::responder& res) -> std::unique_ptr<http::body_sink> {
                      if (!authenticate(app, req, res, token_scope::publish)) return nullptr;
                      std::optional<std::string> expected;
                      if (const auto* sha = req.query_param("sha256")) {
                        if (!hub::is_sha256_hex(*sha)) {
                          res.send(http::json_error(400, "bad_hash", "sha256 must be 64 lowercase hex digits"));
                          return nullptr;
                        }
                        expected = *sha;
                      }
                      return std::make_unique<blob_sink>(app.blobs().begin(), std::move(expected));
                    });

  // Which of these files the hub lacks: {"sha256": [HEX, …]} -> {"missing": [HEX, …]}, so that
  // a push uploads only those (content already kept is never sent twice).
  router.add("POST", "/api/blobs/missing", [&app](http::request& req, http::responder res) {
    if (!authenticate(app, req, res, token_scope::publish)) return;
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    const auto* list = !ec && body.is_object() ? body.as_object().if_contains("sha256") : nullptr;
    if (!list || !list->is_array() || list->as_array().size() > max_files_per_revision) {
      res.send(http::json_error(400, "invalid_request", "the body is {\"sha256\": [\"…\", …]} with at most 1000 hashes"));
      return;
    }
    json::array missing;
    for (const auto& v : list->as_array()) {
      if (!v.is_string() || !hub::is_sha256_hex(v.as_string())) {
        res.send(http::json_error(400, "bad_hash", "every sha256 is 64 lowercase hex digits"));
        return;
      }
      if (!app.blobs().size_of(v.as_string())) missing.push_back(v);
    }
    res.send(http::json(200, json::serialize(json::object{{"missing", std::move(missing)}})));
  });

  // A revision of owner/name from uploaded blobs: {"files": [{"path", "sha256"}], "message",
  // "parent"}. The caller publishes for their own account or an organisation they belong to.
  router.add("POST", "/api/models/{owner}/{name}/commits", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::publish);
    if (!who) return;
    const auto owner_name = req.path_params["owner"], name = req.path_params["name"];
    auto owner = app.accounts().find_account(owner_name);
    if (!owner || owner->kind == account_kind::system) {
      res.send(http::json_error(404, "unknown_account", "no account named '" + owner_name + "'"));
      return;
    }
    bool may = owner->id == who->account.id;
    for (const auto& m : app.accounts().orgs_of(who->account.id)) may = may || m.account.id == owner->id;
    if (!may) {
      res.send(http::json_error(403, "not_yours", "you publish as '" + who->account.name + "' or an organisation you belong to, not '" +
                                                      owner_name + "'"));
      return;
    }
    if (auto problem = model_name_problem(name); !problem.empty()) {
      res.send(http::json_error(400, "bad_name", problem));
      return;
    }
    boost::system::error_code ec;
    auto body = json::parse(req.body, ec);
    const auto* o = ec ? nullptr : body.if_object();
    const auto* files = o ? o->if_contains("files") : nullptr;
    if (!files || !files->is_array() || files->as_array().empty() || files->as_array().size() > max_files_per_revision) {
      res.send(http::json_error(400, "invalid_request", "a commit is {\"files\": [{\"path\": \"README.md\", \"sha256\": \"…\"}, …], "
                                                        "\"message\": \"…\", \"parent\": \"…\"} with 1 to 1000 files"));
      return;
    }
    auto refuse = [&](unsigned status, const char* code, const std::string& message) {
      res.send(http::json_error(status, code, message));
    };
    std::vector<model_file> listed;
    std::set<std::string> paths;
    for (const auto& f : files->as_array()) {
      const auto* fo = f.if_object();
      const auto* path = fo ? fo->if_contains("path") : nullptr;
      const auto* sha = fo ? fo->if_contains("sha256") : nullptr;
      if (!path || !path->is_string() || !sha || !sha->is_string())
        return refuse(400, "invalid_request", "each file is {\"path\": …, \"sha256\": …}");
      model_file mf{std::string(path->as_string()), std::string(sha->as_string()), 0};
      if (auto problem = path_problem(mf.path); !problem.empty()) return refuse(400, "bad_path", problem);
      if (!paths.insert(mf.path).second) return refuse(400, "bad_path", "\"" + mf.path + "\" is listed twice");
      if (!hub::is_sha256_hex(mf.sha256)) return refuse(400, "bad_hash", "\"" + mf.path + "\": sha256 must be 64 lowercase hex digits");
      const auto size = app.blobs().size_of(mf.sha256);
      if (!size) return refuse(409, "missing_blob", "\"" + mf.path + "\": no uploaded file has sha256 " + mf.sha256 + ": upload it first (PUT /api/blobs)");
      mf.size = static_cast<std::int64_t>(*size);
      if (!kind_of(mf.path))
        return refuse(422, "unsupported_file", "\"" + mf.path + "\": the hub keeps model cards (.md), JSON, text, TorchScript (.pt), "
                                                                 "safetensors and ONNX files, nothing else");
      listed.push_back(std::move(mf));
    }
    std::sort(listed.begin(), listed.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
    auto readme = std::find_if(listed.begin(), listed.end(), [](const auto& f) { return f.path == "README.md"; });
    if (readme == listed.end()) return refuse(422, "no_card", "a model needs a README.md whose front matter names its task and format");
    if (static_cast<std::uint64_t>(readme->size) > max_card_bytes) return refuse(422, "bad_card", "README.md is over 1 MiB");
    hub::model_card card;
    try {
      card = hub::parse_model_card(head_bytes(app.blobs().path_of(readme->sha256), max_card_bytes));
    } catch (const hub::card_error& e) {
      return refuse(422, "bad_card", e.what());
    }
    for (const auto& f : listed) {
      if (auto problem = content_problem(f.path, head_bytes(app.blobs().path_of(f.sha256), 16), *kind_of(f.path), card.format);
          !problem.empty())
        return refuse(422, "bad_file", problem);
    }
    model_revision rev;
    rev.parent = o->contains("parent") && (*o).at("parent").is_string() ? std::string((*o).at("parent").as_string()) : std::string();
    rev.message = o->contains("message") && (*o).at("message").is_string() ? std::string((*o).at("message").as_string()) : "";
    if (rev.message.size() > 4096) return refuse(400, "invalid_request", "a commit message is at most 4096 bytes");
    rev.author_id = who->account.id;
    rev.created_ms = now_ms();
    rev.files = std::move(listed);
    rev.id = revision_id(owner->name + "/" + name, rev.parent, rev.created_ms, rev.author_id, rev.files, rev.message);
    const model_card_fields fields{card.task, card.format, card.license, card.tags, card.labels, card.body};
    app.work().post([&app, owner = *owner, name, fields, rev, res = std::make_shared<http::responder>(std::move(res))] {
      try {
        const auto made = app.hub().commit(owner.id, name, fields, rev, rev.parent);
        spdlog::info("hub: {}/{} revision {} ({} files)", owner.name, name, rev.id, rev.files.size());
        res->send(http::json(201, json::serialize(model_json(made, rev))));
      } catch (const store_refused& e) {
        res->send(http::json_error(e.code() == "conflict" ? 409 : 400, e.code(), e.what()));
      } catch (const std::exception& e) {
        spdlog::error("hub: commit of {}/{} failed: {}", owner.name, name, e.what());
        res->send(http::json_error(500, "internal", "the revision could not be saved; see the daemon's log"));
      }
    });
  });

  router.add("GET", "/api/models/{owner}/{name}", [&app](http::request& req, http::responder res) {
    auto model = app.hub().find_model(req.path_params["owner"], req.path_params["name"]);
    if (!model) {
      res.send(http::json_error(404, "model_not_found", "no model " + req.path_params["owner"] + "/" + req.path_params["name"]));
      return;
    }
    const auto* rev_param = req.query_param("revision");
    auto rev = app.hub().find_revision(model->id, rev_param ? *rev_param : "");
    if (!rev) {
      res.send(http::json_error(404, "revision_not_found", "model " + model->owner + "/" + model->name + " has no revision '" +
                                                               (rev_param ? *rev_param : "") + "'"));
      return;
    }
    // An older revision shows its own card, read again from its README.md.
    model->card = card_of_revision(*model, *rev, app.blobs());
    res.send(http::json(200, json::serialize(model_json(*model, rev))));
  });

  // Removes a model with all its revisions (its owner, or a member of the organisation that
  // owns it). Contents no other model holds leave the disk.
  router.add("DELETE", "/api/models/{owner}/{name}", [&app](http::request& req, http::responder res) {
    const auto who = authenticate(app, req, res, token_scope::publish);
    if (!who) return;
    auto model = app.hub().find_model(req.path_params["owner"], req.path_params["name"]);
    if (!model) {
      res.send(http::json_error(404, "model_not_found", "no model " + req.path_params["owner"] + "/" + req.path_params["name"]));
      return;
    }
    bool may = model->owner_id == who->account.id || (who->token.scopes & token_scope::admin);
    for (const auto& m : app.accounts().orgs_of(who->account.id)) may = may || m.account.id == model->owner_id;
    if (!may) {
      res.send(http::json_error(403, "not_yours", "only " + model->owner + " (or a member, for an organisation) may remove " +
                                                      model->owner + "/" + model->name));
      return;
    }
    app.work().post([&app, model = *model, who = who->account.name, res = std::make_shared<http::responder>(std::move(res))] {
      try {
        const auto orphans = app.hub().remove_model(model.id);
        std::uint64_t freed = 0;
        for (const auto& sha : orphans) {
          freed += app.blobs().size_of(sha).value_or(0);
          std::error_code ec;
          std::filesystem::remove(app.blobs().path_of(sha), ec);
        }
        spdlog::info("hub: {}/{} removed by {} ({} files, {} bytes freed)", model.owner, model.name, who, orphans.size(), freed);
        res->send(http::json(200, json::serialize(json::object{{"id", model.owner + "/" + model.name}, {"removed", true},
                                                               {"bytes_freed", freed}})));
      } catch (const std::exception& e) {
        spdlog::error("hub: removing {}/{} failed: {}", model.owner, model.name, e.what());
        res->send(http::json_error(500, "internal", "the model could not be removed; see the daemon's log"));
      }
    });
  });

  router.add("GET", "/api/models/{owner}/{name}/revisions", [&app](http::request& req, http::responder res) {
    auto model = app.hub().find_model(req.path_params["owner"], req.path_params["name"]);
    if (!model) {
      res.send(http::json_error(404, "model_not_found", "no model " + req.path_params["owner"] + "/" + req.path_params["name"]));
      return;
    }
    json::array out;
    for (const auto& r : app.hub().revisions(model->id))
      out.push_back(json::object{{"id", r.id}, {"parent", r.parent}, {"message", r.message}, {"created_at", iso8601(r.created_ms)}});
    res.send(http::json(200, json::serialize(json::object{{"revisions", std::move(out)}})));
  });

  // A file of a revision ("main" is the head), as the Hugging Face Hub serves them: ETag (its
  // sha256), X-Repo-Commit, byte ranges, If-None-Match. Streamed from disk. Fetching a model's
  // README.md counts one download (every model has one, and a pull fetches it once).
  auto resolve = [&app](http::request& req, http::responder res) {
    auto model = app.hub().find_model(req.path_params["owner"], req.path_params["name"]);
    if (!model) {
      res.send(http::json_error(404, "model_not_found", "no model " + req.path_params["owner"] + "/" + req.path_params["name"]));
      return;
    }
    auto rev = app.hub().find_revision(model->id, req.path_params["rev"]);
    if (!rev) {
      res.send(http::json_error(404, "revision_not_found", "model " + model->owner + "/" + model->name + " has no revision '" +
                                                               req.path_params["rev"] + "'"));
      return;
    }
    const auto& path = req.path_params["path"];
    auto file = std::find_if(rev->files.begin(), rev->files.end(), [&](const model_file& f) { return f.path == path; });
    if (file == rev->files.end()) {
      res.send(http::json_error(404, "entry_not_found", "revision " + rev->id + " of " + model->owner + "/" + model->name +
                                                            " has no file '" + path + "'"));
      return;
    }
    const auto size = static_cast<std::uint64_t>(file->size);
    http::response out;
    out.content_type = path.ends_with(".md") ? "text/markdown; charset=utf-8"
                       : path.ends_with(".json") ? "application/json"
                       : path.ends_with(".txt") ? "text/plain; charset=utf-8"
                                                : "application/octet-stream";
    const std::string etag = "\"" + file->sha256 + "\"";
    out.headers = {{"ETag", etag}, {"X-Repo-Commit", rev->id}, {"Accept-Ranges", "bytes"}, {"Cache-Control", "public, max-age=31536000, immutable"}};
    if (const auto* match = req.header("if-none-match"); match && (*match == etag || *match == "*")) {
      out.status = 304;
      res.send(std::move(out));
      return;
    }
    std::uint64_t first = 0, last = size == 0 ? 0 : size - 1;
    if (const auto* range = req.header("range"); range && size > 0) {
      // One range: bytes=a-b, bytes=a-, or bytes=-n (the last n).
      bool ok = range->starts_with("bytes=") && range->find(',') == std::string::npos;
      const auto spec = ok ? std::string_view(*range).substr(6) : std::string_view();
      const auto dash = spec.find('-');
      ok = ok && dash != std::string_view::npos;
      auto number = [](std::string_view t, std::uint64_t& v) {
        auto r = std::from_chars(t.data(), t.data() + t.size(), v);
        return !t.empty() && r.ec == std::errc() && r.ptr == t.data() + t.size();
      };
      std::uint64_t a = 0, b = 0;
      if (ok && dash == 0) {
        ok = number(spec.substr(1), b) && b > 0;
        first = ok ? (b >= size ? 0 : size - b) : 0;
      } else if (ok) {
        ok = number(spec.substr(0, dash), a) && a < size && (dash + 1 == spec.size() || (number(spec.substr(dash + 1), b) && b >= a));
        first = a;
        if (ok && dash + 1 < spec.size()) last = std::min(b, size - 1);
      }
      if (!ok) {
        auto refused = http::json_error(416, "bad_range", "the file has " + std::to_string(size) + " bytes; ask one range like bytes=0-1023");
        refused.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
        res.send(std::move(refused));
        return;
      }
      out.status = 206;
      out.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
    }
    out.file = http::response::file_part{app.blobs().path_of(file->sha256), first, size == 0 ? 0 : last - first + 1};
    if (path == "README.md" && req.method == "GET" && out.status == 200) app.hub().count_download(model->id);
    res.send(std::move(out));
  };
  router.add("GET", "/{owner}/{name}/resolve/{rev}/{path*}", resolve);
  router.add("HEAD", "/{owner}/{name}/resolve/{rev}/{path*}", resolve);

  // Search: ?search= (name, owner, tags, labels), ?task=, ?sort=recent|downloads, ?limit=, ?offset=.
  router.add("GET", "/api/models", [&app](http::request& req, http::responder res) {
    model_query q;
    if (const auto* s = req.query_param("search")) q.search = *s;
    if (const auto* t = req.query_param("task")) q.task = *t;
    if (const auto* s = req.query_param("sort"); s && !s->empty()) {
      if (*s == "downloads") q.sort = model_query::order::downloads;
      else if (*s != "recent" && *s != "lastModified") {
        res.send(http::json_error(400, "invalid_request", "sort is recent or downloads"));
        return;
      }
    }
    for (auto [key, field, top] : {std::tuple{"limit", &q.limit, 100}, std::tuple{"offset", &q.offset, 1'000'000}}) {
      const auto* v = req.query_param(key);
      if (!v || v->empty()) continue;
      int n = -1;
      auto r = std::from_chars(v->data(), v->data() + v->size(), n);
      if (r.ec != std::errc() || r.ptr != v->data() + v->size() || n < 0 || n > top) {
        res.send(http::json_error(400, "invalid_request", std::string(key) + " must be an integer from 0 to " + std::to_string(top)));
        return;
      }
      *field = n;
    }
    json::array out;
    for (const auto& m : app.hub().list_models(q)) out.push_back(model_json(m, std::nullopt));
    res.send(http::json(200, json::serialize(out)));
  });
}

}  // namespace potluck::daemon::api
