// The model hub's commands of the potluck CLI (their specs are in app.cpp's table): models push,
// models ls, models show, models pull, models rm; and the hints under the daemon's refusals about
// models.
//
// A push lists a folder's files, hashes each one (sha256), uploads each as a blob streamed from
// disk (http_client::upload; a file is never whole in memory), then commits them all as one
// revision whose parent is the model's head when the push began, so that two pushes at once
// cannot silently lose one (the daemon answers 409 conflict). A pull downloads each file of one
// revision into a hidden part file next to it, hashing as it writes, and renames it into place
// only when its sha256 is the one the hub lists; a part file left by an interrupted pull is
// continued with a range request.
//
// Local problems (no folder, no README.md, a link out of the folder) exit 2 before anything is
// sent; the daemon's refusals exit 4 with its message and a hint.
#include "cli/command.hpp"

#include "cli/errors.hpp"
#include "cli/format.hpp"

#include <boost/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <ostream>
#include <set>

namespace fs = std::filesystem;
namespace json = boost::json;

namespace potluck::cli {
namespace {

constexpr std::chrono::milliseconds redraw_interval{100};
constexpr std::size_t read_chunk_bytes = 1 << 20;  // a piece of a file hashed or uploaded
constexpr int default_models_limit = 20;
constexpr int max_models_limit = 100;               // the daemon's
constexpr std::size_t max_files_per_revision = 1000;  // the daemon's
constexpr std::size_t max_owner_chars = 39;         // an account's name
constexpr std::size_t max_model_name_chars = 96;    // the daemon's
constexpr std::size_t short_hash_chars = 12;
constexpr std::size_t revision_chars = 40;
constexpr std::size_t min_revision_prefix_chars = 4;
constexpr const char* part_suffix = ".potluck-part";

// The smallest card the hub takes, indented for a hint.
constexpr const char* minimal_card =
    "  ---\n"
    "  task: text-classification     # or text-generation, image-classification, tensor\n"
    "  format: torchscript           # or safetensors, onnx\n"
    "  license: mit\n"
    "  ---\n"
    "  # My model\n"
    "  What it does and what it was trained on.";

// The kinds of file the hub keeps, by the end of their names (daemon/api/hub.cpp's list).
// Checked before anything is uploaded, so that a large upload is not refused at its end.
constexpr std::string_view kept_extensions[] = {".md", ".json", ".txt", ".model", ".pt",
                                                ".ts", ".torchscript", ".safetensors", ".onnx"};
constexpr const char* kept_kinds =
    "model cards (.md), JSON, text, sentencepiece (.model), TorchScript (.pt, .ts, .torchscript), safetensors "
    "and ONNX files";

bool is_kept(std::string_view path) {
  return std::any_of(std::begin(kept_extensions), std::end(kept_extensions),
                     [&](std::string_view e) { return path.size() > e.size() && path.ends_with(e); });
}

// ---------------------------------------------------------------------------------------------
// Names

}  // namespace

model_id parse_model_id(const std::string& text) {
  const auto slash = text.find('/');
  const std::string form = "name a model as OWNER/NAME, like alice/word-lang";
  if (slash == std::string::npos || text.find('/', slash + 1) != std::string::npos)
    throw usage_error("'" + text + "' is not a model: " + form);
  model_id id{text.substr(0, slash), text.substr(slash + 1)};
  if (id.owner.empty() || id.owner.size() > max_owner_chars ||
      !std::all_of(id.owner.begin(), id.owner.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }))
    throw usage_error("'" + text + "': OWNER is an account or an organisation, 1 to 39 lowercase letters, digits and "
                      "hyphens; " + form);
  const auto& n = id.name;
  if (n.empty() || n.size() > max_model_name_chars || n.front() == '.' || n.front() == '-' ||
      !std::all_of(n.begin(), n.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
      }))
    throw usage_error("'" + text + "': a model's NAME is 1 to 96 letters, digits, '.', '_' and '-', not starting with "
                      "'.' or '-'");
  return id;
}

namespace {

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string short_hash(std::string_view h) { return std::string(h.substr(0, short_hash_chars)); }

// ---------------------------------------------------------------------------------------------
// Hashing and progress

class sha256_hasher {
 public:
  sha256_hasher() { crypto_hash_sha256_init(&state_); }
  void update(std::string_view bytes) {
    crypto_hash_sha256_update(&state_, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  }
  std::string hex() {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state_, digest);
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : digest) out += digits[b >> 4], out += digits[b & 0xf];
    return out;
  }

 private:
  crypto_hash_sha256_state state_;
};

// The progress line of a transfer on stderr: drawn on a terminal (not with -q), at most every
// redraw_interval, and cleared when it ends.
class transfer_progress {
 public:
  transfer_progress(context& ctx, std::string verb, std::uint64_t total_bytes, std::size_t file_count)
      : ctx_(ctx), draw_(ctx.term.stderr_tty && ctx.term.ansi && !ctx.quiet), started_(std::chrono::steady_clock::now()) {
    view_.verb = std::move(verb);
    view_.total_bytes = total_bytes;
    view_.file_count = file_count;
  }
  ~transfer_progress() { clear(); }
  transfer_progress(const transfer_progress&) = delete;
  transfer_progress& operator=(const transfer_progress&) = delete;

  bool drawing() const { return draw_; }
  void begin_file(std::size_t index, const std::string& name) {
    view_.file_index = index;
    view_.file = name;
    redraw();
  }
  void add(std::uint64_t bytes) {
    view_.done_bytes += bytes;
    if (std::chrono::steady_clock::now() - last_draw_ >= redraw_interval) redraw();
  }
  // Bytes counted that have to be sent again.
  void take_back(std::uint64_t bytes) { view_.done_bytes -= std::min(bytes, view_.done_bytes); }
  void clear() {
    if (drawn_) ctx_.err << "\r\x1b[2K" << std::flush;
    drawn_ = false;
  }

 private:
  void redraw() {
    if (!draw_) return;
    last_draw_ = std::chrono::steady_clock::now();
    view_.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(last_draw_ - started_).count();
    const std::size_t width = ctx_.term.columns > 1 ? ctx_.term.columns - 1 : 79;
    ctx_.err << "\r\x1b[2K" << transfer_line(view_, width, ctx_.term.unicode, ctx_.color_err) << std::flush;
    drawn_ = true;
  }

  context& ctx_;
  const bool draw_;
  transfer_view view_;
  std::chrono::steady_clock::time_point started_, last_draw_{};
  bool drawn_ = false;
};

// Reads `file` in pieces, handing each to `on_piece`.
template <class OnPiece>
void read_pieces(const fs::path& file, OnPiece&& on_piece) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw file_error("cannot read " + file.string());
  std::string piece(read_chunk_bytes, '\0');
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    const auto n = static_cast<std::size_t>(in.gcount());
    if (n > 0) on_piece(std::string_view(piece.data(), n));
  }
  if (in.bad()) throw file_error("cannot read " + file.string());
}

std::string sha256_of_file(const fs::path& file, transfer_progress* progress) {
  sha256_hasher hasher;
  read_pieces(file, [&](std::string_view piece) {
    hasher.update(piece);
    if (progress) progress->add(piece.size());
  });
  return hasher.hex();
}

// ---------------------------------------------------------------------------------------------
// The files of a folder (push)

struct local_file {
  std::string path;  // in the model, '/' between folders: "model/weights.pt"
  fs::path file;     // on disk
  std::uint64_t size = 0;
  std::string sha256;
};

// Whether `p` (made absolute and free of links) is the folder `root` (the same) or lies in it.
bool is_inside(const fs::path& p, const fs::path& root) {
  const auto rel = p.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

// The files under `dir` a push sends, sorted by path: regular files, and links to regular files
// inside `dir`; names starting with '.' (and what is under such folders) are left out.
std::vector<local_file> list_folder(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (!fs::exists(status))
    throw file_error("there is no folder " + dir.string(),
                     "potluck models push takes the folder that holds the model's files: README.md, its weights, ...");
  if (!fs::is_directory(status)) throw file_error(dir.string() + " is not a folder", "Give the folder that holds it.");
  const auto root = fs::canonical(dir);
  std::vector<local_file> files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) throw file_error("cannot read the folder " + dir.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw file_error("cannot read the folder " + dir.string() + ": " + ec.message());
    const auto& entry = *it;
    const auto name = entry.path().filename().string();
    if (name.starts_with(".")) {
      if (entry.is_directory(ec) && !entry.is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    const auto relative = entry.path().lexically_relative(dir).generic_string();
    if (entry.is_symlink(ec)) {
      const auto target = fs::weakly_canonical(entry.path(), ec);
      if (ec || !fs::exists(target))
        throw file_error((dir / relative).string() + " is a link to nothing", "Remove it, or hide it (a name starting with '.').");
      if (!is_inside(target, root))
        throw file_error((dir / relative).string() + " is a link to " + target.string() + ", outside " + dir.string(),
                         "A push sends only what is inside the folder: copy the file in, or hide the link (a name "
                         "starting with '.').");
      // A link to a folder inside: its files are pushed from where they are.
      if (!fs::is_regular_file(target)) continue;
      files.push_back({relative, target, fs::file_size(target), {}});
      continue;
    }
    if (!entry.is_regular_file(ec)) continue;  // sockets, pipes, devices
    files.push_back({relative, entry.path(), entry.file_size(), {}});
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  if (files.empty()) throw file_error(dir.string() + " holds no files to push", "A model needs a README.md (its card) and its weights.");
  if (std::none_of(files.begin(), files.end(), [](const auto& f) { return f.path == "README.md"; }))
    throw file_error(dir.string() + " has no README.md: the hub needs a model card",
                     "Write " + (dir / "README.md").string() + " with front matter that names the task and the format:\n" +
                         minimal_card);
  if (files.size() > max_files_per_revision)
    throw file_error(dir.string() + " holds " + std::to_string(files.size()) + " files; a revision holds at most " +
                     std::to_string(max_files_per_revision));
  std::string refused;
  for (const auto& f : files)
    if (!is_kept(f.path)) refused += (refused.empty() ? "" : ", ") + f.path;
  if (!refused.empty())
    throw file_error("the hub does not keep these files of " + dir.string() + ": " + refused,
                     std::string("It keeps ") + kept_kinds + ".\nMove the others out of the folder, or hide them (a name "
                     "starting with '.' is not pushed).");
  return files;
}

// ---------------------------------------------------------------------------------------------
// The daemon's models

}  // namespace

std::optional<json::object> find_model(context& ctx, const model_id& id, const std::string& revision) {
  try {
    auto v = call(ctx, "GET", id.target() + (revision.empty() ? "" : "?revision=" + encode_query_value(revision)), {},
                  {200});
    if (!v.is_object() || string_field(v.as_object(), "sha").empty())
      throw api_error(200, "bad_reply", "the daemon's answer about " + id.text() + " holds no revision");
    return std::move(v.as_object());
  } catch (const api_error& e) {
    if (e.code == "model_not_found") return std::nullopt;
    throw;
  }
}

namespace {

json::object model_or_refusal(context& ctx, const model_id& id, const std::string& revision = {}) {
  auto model = find_model(ctx, id, revision);
  if (!model) throw api_error(404, "model_not_found", "no model " + id.text());
  return std::move(*model);
}

json::array revisions_of(context& ctx, const model_id& id) {
  auto v = call(ctx, "GET", id.target() + "/revisions", {}, {200});
  const auto* list = v.is_object() ? v.as_object().if_contains("revisions") : nullptr;
  if (!list || !list->is_array()) throw api_error(200, "bad_reply", "the daemon's answer holds no \"revisions\"");
  return std::move(list->as_array());
}

// Refuses a push the daemon would refuse at its commit, after every upload: a token without the
// publish scope, or an OWNER that is neither the caller's account nor an organisation of theirs.
void check_publisher(context& ctx, const model_id& id) {
  auto me = call(ctx, "GET", "/api/v1/account", {}, {200});
  const auto& token = object_field(me, "token");
  if (auto* scopes = token.if_contains("scopes"); scopes && scopes->is_array()) {
    const auto& list = scopes->as_array();
    if (std::none_of(list.begin(), list.end(), [](const json::value& s) { return s.is_string() && s.as_string() == "publish"; }))
      throw api_error(403, "missing_scope", "API token '" + string_field(token, "name") + "' lacks the scope this needs: publish");
  }
  const auto name = string_field(object_field(me, "account"), "name");
  std::string orgs;
  bool may = name == id.owner;
  if (auto* list = me.is_object() ? me.as_object().if_contains("orgs") : nullptr; list && list->is_array())
    for (const auto& o : list->as_array())
      if (o.is_object()) {
        const auto org = string_field(o.as_object(), "name");
        may = may || org == id.owner;
        orgs += (orgs.empty() ? "" : ", ") + org;
      }
  if (!may && !name.empty())
    throw api_error(403, "not_yours", "you publish as '" + name + "'" + (orgs.empty() ? "" : " or an organisation you belong to (" + orgs + ")") +
                                          ", not '" + id.owner + "'");
}

}  // namespace

std::string full_revision(context& ctx, const model_id& id, const std::string& given, const std::string& written) {
  std::string text = given;
  std::transform(text.begin(), text.end(), text.begin(), [](char c) { return c >= 'A' && c <= 'F' ? char(c - 'A' + 'a') : c; });
  if (text.empty() || text == "main") return {};
  if (text.size() > revision_chars || text.size() < min_revision_prefix_chars || !is_hex(text))
    throw usage_error((written.empty() ? "--revision '" + given + "' is not a revision"
                                       : "'" + written + "' names no revision ('" + given + "')") +
                      ": give its ID (40 hex digits, or its first few, as potluck models show lists them) or main");
  if (text.size() == revision_chars) return text;
  std::vector<std::string> matches;
  for (const auto& r : revisions_of(ctx, id))
    if (r.is_object())
      if (auto rid = string_field(r.as_object(), "id"); rid.starts_with(text)) matches.push_back(rid);
  if (matches.empty()) throw api_error(404, "revision_not_found", "model " + id.text() + " has no revision '" + text + "'");
  if (matches.size() > 1) {
    std::string list;
    for (const auto& m : matches) list += (list.empty() ? "" : ", ") + short_hash(m);
    throw usage_error((written.empty() ? "--revision " + text : "'" + written + "': " + text) + " is the start of " +
                      std::to_string(matches.size()) + " revisions (" + list + "): give more digits");
  }
  return matches.front();
}

namespace {

// The files a revision lists: {path, (size, sha256)}.
struct remote_file {
  std::string path, sha256;
  std::uint64_t size = 0;
};
std::vector<remote_file> files_of(const json::object& model) {
  std::vector<remote_file> out;
  if (auto* s = model.if_contains("siblings"); s && s->is_array())
    for (const auto& f : s->as_array())
      if (f.is_object())
        out.push_back({string_field(f.as_object(), "rfilename"), string_field(f.as_object(), "sha256"),
                       static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_field(f.as_object(), "size")))});
  return out;
}

std::string files_text(std::size_t count, std::uint64_t bytes) {
  return std::to_string(count) + (count == 1 ? " file, " : " files, ") + format_bytes(bytes);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hints

std::string model_hint(const api_error& e, const context& ctx) {
  if (ctx.model.empty()) return {};
  const auto& m = ctx.model;
  if (e.code == "no_card" || e.code == "bad_card")
    return std::string("A model card starts with front matter between two '---' lines, like:\n") + minimal_card;
  if (e.code == "unsupported_file")
    return "Move such files out of the folder, or hide them: names starting with '.' are not pushed.";
  if (e.code == "bad_file")
    return "Weights must be in the card's format: TorchScript (torch.jit.save), safetensors or ONNX.";
  if (e.code == "conflict")
    return "Someone pushed to " + m + " meanwhile. See its revisions: potluck models show " + m + "; then push again.";
  if (e.code == "not_yours" && !ctx.not_yours_hint.empty()) return ctx.not_yours_hint;
  if (e.code == "not_yours" || e.code == "unknown_account")
    return "Publish as your account or an organisation you belong to (see them: potluck account), like:\n"
           "  potluck models push DIR YOUR-NAME/" + m.substr(m.find('/') + 1);
  if (e.code == "model_not_found") return "See the models on the hub: potluck models ls";
  if (e.code == "revision_not_found" || e.code == "entry_not_found")
    return "See the revisions of " + m + ": potluck models show " + m;
  if (e.code == "hash_mismatch") return "A file changed while it was pushed; push again once it is complete.";
  if (e.code == "file_too_large" || e.code == "body_too_large")
    return "The daemon's operator sets the largest file it takes: potluckd --max-model-file-bytes.";
  if (e.code == "bad_download")
    return "The file was not kept. Pull again; if it happens again, the daemon's copy is damaged: tell its operator.";
  return {};
}

// ---------------------------------------------------------------------------------------------
// models push

int cmd_models_push(context& ctx, const parsed_command& p) {
  const fs::path dir = p.args.at(0);
  const auto id = parse_model_id(p.args.at(1));
  ctx.model = id.text();
  ctx.missing_scope_hint = "Publishing a model takes a token with the publish scope.\n"
                           "Make one: potluck tokens create NAME --scope publish";
  auto files = list_folder(dir);
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.size;

  // Who publishes, and the head the new revision follows: asked first, so that a refusal or an
  // unreachable daemon is known before the files are read.
  check_publisher(ctx, id);
  const auto head = find_model(ctx, id);
  {
    transfer_progress hashing(ctx, "Hashing", total, files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
      hashing.begin_file(i + 1, files[i].path);
      files[i].sha256 = sha256_of_file(files[i].file, &hashing);
    }
  }
  if (head) {
    std::set<std::pair<std::string, std::string>> before, now;
    for (const auto& f : files_of(*head)) before.emplace(f.path, f.sha256);
    for (const auto& f : files) now.emplace(f.path, f.sha256);
    if (before == now) {
      const auto sha = string_field(*head, "sha");
      if (ctx.json) print_json(ctx, *head);
      else if (ctx.quiet) ctx.out << sha << '\n';
      else ctx.out << "Nothing to push: " << id.text() << " revision " << sha << " has these files already.\n";
      return exit_ok;
    }
  }

  // Content the hub keeps already (in this model or any other) is not sent again. A daemon
  // without the route gets every file.
  std::set<std::string> missing;
  {
    json::array hashes;
    for (const auto& f : files) hashes.emplace_back(f.sha256);
    try {
      const auto answer = call(ctx, "POST", "/api/blobs/missing", json::serialize(json::object{{"sha256", hashes}}), {200});
      if (const auto* list = answer.is_object() ? answer.as_object().if_contains("missing") : nullptr; list && list->is_array())
        for (const auto& v : list->as_array())
          if (v.is_string()) missing.insert(std::string(v.as_string()));
    } catch (const api_error& e) {
      if (e.status != 404) throw;
      for (const auto& f : files) missing.insert(f.sha256);
    }
  }
  std::uint64_t to_send = 0;
  std::size_t kept = 0;
  for (const auto& f : files) {
    if (missing.count(f.sha256)) to_send += f.size;
    else ++kept;
  }
  if (kept > 0 && !ctx.quiet)
    ctx.err << (kept == 1 ? "1 file is" : std::to_string(kept) + " files are") << " on the hub already: not sent again\n" << std::flush;

  {
    transfer_progress uploading(ctx, "Uploading", to_send, files.size() - kept);
    std::size_t sent_files = 0;
    for (std::size_t i = 0; i < files.size(); ++i) {
      const auto& f = files[i];
      if (!missing.count(f.sha256)) continue;
      uploading.begin_file(++sent_files, f.path);
      std::ifstream in(f.file, std::ios::binary);
      if (!in) throw file_error("cannot read " + f.file.string());
      std::uint64_t reported = 0;
      const auto display = (dir / f.path).string();
      auto source = [&](std::span<char> buffer) -> std::size_t {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        const auto n = static_cast<std::size_t>(in.gcount());
        if (n == 0) throw file_error(display + " changed while it was pushed (it is shorter now)", "Push again once it is complete.");
        return n;
      };
      auto on_sent = [&](std::uint64_t sent) {
        uploading.add(sent - reported);
        reported = sent;
      };
      const std::string target = "/api/blobs?sha256=" + f.sha256;
      auto reply = reply_json(ctx.client.upload("PUT", target, f.size, source, on_sent), "PUT", target, {200, 201});
      if (!reply.is_object() || string_field(reply.as_object(), "sha256") != f.sha256)
        throw api_error(200, "bad_reply", "the daemon's answer about " + f.path + " names another sha256");
      if (!uploading.drawing() && !ctx.quiet)
        ctx.err << "uploaded " << f.path << " (" << format_bytes(f.size) << ")\n" << std::flush;
    }
  }

  json::array listed;
  for (const auto& f : files) listed.push_back(json::object{{"path", f.path}, {"sha256", f.sha256}});
  json::object body{{"files", std::move(listed)},
                    {"message", p.has("message") ? p.value("message")
                                                 : "Push " + std::to_string(files.size()) + (files.size() == 1 ? " file" : " files")}};
  if (head) body["parent"] = string_field(*head, "sha");
  auto made = call(ctx, "POST", id.target() + "/commits", json::serialize(body), {200, 201});
  const auto sha = made.is_object() ? string_field(made.as_object(), "sha") : std::string();
  if (sha.empty()) throw api_error(201, "bad_reply", "the daemon's answer to the commit holds no revision");
  if (ctx.json) {
    print_json(ctx, made);
  } else if (ctx.quiet) {
    ctx.out << sha << '\n';
  } else {
    ctx.out << (head ? "Pushed " : "Created ") << id.text() << " revision " << sha << " (" << files_text(files.size(), total)
            << ")" << (head ? ", after " + short_hash(string_field(*head, "sha")) : std::string()) << ".\n";
    ctx.err << paint("See it: potluck models show " + id.text(), tone::dim, ctx.color_err) << '\n';
  }
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// models ls

int cmd_models_ls(context& ctx, const parsed_command& p) {
  const int limit = p.has("limit") ? parse_positive("limit", p.value("limit"), max_models_limit) : default_models_limit;
  std::string target = "/api/models?limit=" + std::to_string(limit);
  std::string filters;
  const auto sort = p.value("sort");
  if (p.has("sort")) {
    if (sort != "recent" && sort != "downloads")
      throw usage_error("--sort is recent (the latest changed first) or downloads (got '" + sort + "')");
    target += "&sort=" + sort;
    filters += " --sort " + sort;
  }
  for (const auto* flag : {"search", "task"})
    if (p.has(flag)) {
      const auto value = p.value(flag);
      if (value.empty()) throw usage_error(std::string("--") + flag + " is empty");
      target += std::string("&") + flag + "=" + encode_query_value(value);
      filters += std::string(" --") + flag + " " + value;
    }
  auto v = call(ctx, "GET", target, {}, {200});
  if (!v.is_array()) throw api_error(200, "bad_reply", "the daemon's model list is not a list");
  if (ctx.json) {
    print_json(ctx, v);
    return exit_ok;
  }
  const auto& models = v.as_array();
  if (ctx.quiet) {
    for (const auto& m : models)
      if (m.is_object()) ctx.out << string_field(m.as_object(), "id") << '\n';
    return exit_ok;
  }
  if (models.empty()) {
    if (p.has("search") || p.has("task")) ctx.out << "No models match. All models: potluck models ls\n";
    else ctx.out << "No models yet. Publish one: potluck models push DIR OWNER/NAME\n";
    return exit_ok;
  }
  const auto now = now_ms();
  text_table table({"ID", "TASK", "FORMAT", "DOWNLOADS", "UPDATED"});
  table.set_align(3, align::right);
  for (const auto& m : models) {
    if (!m.is_object()) continue;
    const auto& model = m.as_object();
    const auto updated = time_field(model, "lastModified");
    table.add_row({{string_field(model, "id")},
                   {string_field(model, "task", "-")},
                   {string_field(model, "format", "-")},
                   {with_thousands(int_field(model, "downloads"))},
                   {updated ? format_age(now - *updated) : "-"}});
  }
  ctx.out << table.render(ctx.color_out);
  if (models.size() >= static_cast<std::size_t>(limit) && limit < max_models_limit)
    ctx.err << paint("Showing the first " + std::to_string(limit) + ". More: potluck models ls --limit " +
                         std::to_string(std::min(limit * 5, max_models_limit)) + filters,
                     tone::dim, ctx.color_err)
            << '\n';
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// models show

int cmd_models_show(context& ctx, const parsed_command& p) {
  const auto id = parse_model_id(p.args.at(0));
  ctx.model = id.text();
  const auto revision = full_revision(ctx, id, p.value("revision"));
  auto model = model_or_refusal(ctx, id, revision);
  auto revisions = revisions_of(ctx, id);
  const auto sha = string_field(model, "sha");
  if (ctx.json) {
    model["revisions"] = revisions;
    print_json(ctx, model);
    return exit_ok;
  }
  if (ctx.quiet) {
    ctx.out << sha << '\n';
    return exit_ok;
  }
  const auto latest = revisions.empty() || !revisions.front().is_object()
                          ? sha
                          : string_field(revisions.front().as_object(), "id");
  const auto now = now_ms();
  auto list = [](const json::object& o, std::string_view key) {
    std::string text;
    if (auto* a = o.if_contains(key); a && a->is_array())
      for (const auto& x : a->as_array())
        if (x.is_string()) text += (text.empty() ? "" : ", ") + std::string(x.as_string());
    return text;
  };
  std::vector<std::pair<std::string, std::string>> rows;
  rows.emplace_back("Model", string_field(model, "id", id.text()));
  rows.emplace_back("Revision", sha + (sha == latest ? " (the latest)" : " (the latest is " + short_hash(latest) + ")"));
  rows.emplace_back("Task", string_field(model, "task", "-"));
  rows.emplace_back("Format", string_field(model, "format", "-"));
  if (auto license = string_field(model, "license"); !license.empty()) rows.emplace_back("License", license);
  if (auto labels = list(object_field(model, "cardData"), "labels"); !labels.empty()) rows.emplace_back("Labels", labels);
  if (auto tags = list(model, "tags"); !tags.empty()) rows.emplace_back("Tags", tags);
  rows.emplace_back("Downloads", with_thousands(int_field(model, "downloads")));
  if (auto created = time_field(model, "createdAt")) rows.emplace_back("Created", format_utc(*created));
  if (auto updated = time_field(model, "lastModified"))
    rows.emplace_back("Updated", format_utc(*updated) + " (" + format_age(now - *updated) + ")");
  print_fields(ctx, rows);

  text_table files({"FILE", "SIZE", "SHA256"});
  files.set_align(1, align::right);
  for (const auto& f : files_of(model)) files.add_row({{f.path}, {format_bytes(f.size)}, {short_hash(f.sha256)}});
  if (!files.empty()) ctx.out << '\n' << files.render(ctx.color_out);

  text_table history({"REVISION", "CREATED", "MESSAGE"});
  for (const auto& r : revisions) {
    if (!r.is_object()) continue;
    const auto& rev = r.as_object();
    const auto rid = string_field(rev, "id");
    auto message = string_field(rev, "message");
    message = message.substr(0, message.find('\n'));
    const auto created = time_field(rev, "created_at");
    history.add_row({{short_hash(rid) + (rid == sha && sha != latest ? " *" : ""), rid == sha ? tone::bold : tone::none},
                     {created ? format_age(now - *created) : "-"},
                     {truncate_to_width(message.empty() ? "-" : message, 72)}});
  }
  if (!history.empty()) ctx.out << '\n' << history.render(ctx.color_out);
  ctx.err << paint("Download it: potluck models pull " + id.text() +
                       (sha == latest ? std::string() : " --revision " + short_hash(sha)),
                   tone::dim, ctx.color_err)
          << '\n';
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// models pull

namespace {

// Why the daemon's `path` may not be written under the pull's folder, or "": the hub's own
// rules, checked again, since what is written on disk must never leave the folder.
std::string unsafe_path(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string_view::npos) return "not a relative path";
  if (std::any_of(path.begin(), path.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }))
    return "a control character";
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const auto part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return "it leaves the folder";
    start = end + 1;
  }
  return {};
}

// The target of a file of a revision: each folder of its path percent-encoded.
std::string resolve_target(const model_id& id, const std::string& revision, const std::string& path) {
  std::string target = "/" + encode_path_segment(id.owner) + "/" + encode_path_segment(id.name) + "/resolve/" + revision;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    target += "/" + encode_path_segment(path.substr(start, end - start));
    start = end + 1;
  }
  return target;
}

// How a download treats a part file an interrupted pull left.
enum class part_file { continue_it, start_over };

// Downloads `f` of `revision` to `dest` through a hidden part file beside it, which an earlier
// interrupted pull may have begun; renames it into place once its sha256 is right. A continued
// part file that ends up wrong is downloaded again whole, once: its first bytes may be the bad
// ones.
void download_file(context& ctx, const model_id& id, const std::string& revision, const remote_file& f,
                   const fs::path& dest, transfer_progress& progress, part_file earlier = part_file::continue_it) {
  const auto part = dest.parent_path() / ("." + dest.filename().string() + part_suffix);
  sha256_hasher hasher;
  std::uint64_t have = 0;
  std::error_code ec;
  if (earlier == part_file::start_over) fs::remove(part, ec);
  if (fs::is_regular_file(part, ec)) {
    have = fs::file_size(part, ec);
    if (ec || have >= f.size) {
      fs::remove(part, ec);
      have = 0;
    } else {
      read_pieces(part, [&](std::string_view piece) { hasher.update(piece); });
    }
  }
  progress.add(have);
  std::ofstream out;
  std::uint64_t written = have;
  auto on_head = [&](const http_response& head) {
    const bool resumed = head.status == 206 && head.header("Content-Range").starts_with("bytes " + std::to_string(have) + "-");
    if (!resumed && have > 0) {
      // The whole file after all: start over.
      hasher = sha256_hasher();
      written = 0;
    }
    out.open(part, std::ios::binary | (resumed ? std::ios::app : std::ios::trunc));
    if (!out) throw file_error("cannot write " + part.string());
  };
  auto on_body = [&](std::string_view bytes) {
    if (written + bytes.size() > f.size)
      throw api_error(200, "bad_download", f.path + " from the daemon is longer than the " + format_bytes(f.size) + " it lists");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw file_error("cannot write " + part.string() + " (is the disk full?)");
    hasher.update(bytes);
    written += bytes.size();
    progress.add(bytes.size());
  };
  const auto target = resolve_target(id, revision, f.path);
  header_list headers;
  if (have > 0) headers.emplace_back("Range", "bytes=" + std::to_string(have) + "-");
  http_response res;
  try {
    res = ctx.client.download(target, headers, on_head, on_body);
  } catch (const api_error&) {
    out.close();
    fs::remove(part, ec);  // content the hub does not list
    throw;
  }
  out.close();
  if (res.status / 100 != 2) reply_json(res, "GET", target, {200, 206});  // throws the daemon's refusal
  if (!out) throw file_error("cannot write " + part.string() + " (is the disk full?)");
  const auto sha = hasher.hex();
  if (written != f.size || sha != f.sha256) {
    fs::remove(part, ec);
    if (have > 0 && written == f.size && earlier == part_file::continue_it) {
      progress.take_back(written);
      return download_file(ctx, id, revision, f, dest, progress, part_file::start_over);
    }
    throw api_error(res.status, "bad_download",
                    f.path + " from the daemon does not match the hub's sha256 " + short_hash(f.sha256) + ": got " +
                        (written != f.size ? format_bytes(written) + " of " + format_bytes(f.size)
                                           : "sha256 " + short_hash(sha)));
  }
  fs::rename(part, dest, ec);
  if (ec) throw file_error("cannot write " + dest.string() + ": " + ec.message());
}

}  // namespace

int cmd_models_pull(context& ctx, const parsed_command& p) {
  const auto id = parse_model_id(p.args.at(0));
  ctx.model = id.text();
  const fs::path dir = p.args.size() > 1 ? fs::path(p.args[1]) : fs::path(id.name);
  const auto revision = full_revision(ctx, id, p.value("revision"));
  const auto model = model_or_refusal(ctx, id, revision);
  const auto sha = string_field(model, "sha");
  if (sha.size() != revision_chars || !is_hex(sha))
    throw api_error(200, "bad_reply", "the daemon's answer names no revision of " + id.text());
  const auto files = files_of(model);
  for (const auto& f : files)
    if (auto problem = unsafe_path(f.path); !problem.empty() || f.sha256.size() != 64 || !is_hex(f.sha256))
      throw api_error(200, "bad_reply", "the daemon lists a file \"" + f.path + "\" that cannot be written: " +
                                            (problem.empty() ? "its sha256 is not one" : problem));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw file_error("cannot make the folder " + dir.string() + (ec ? ": " + ec.message() : ""));
  const auto root = fs::canonical(dir);
  // What is there already with the right content stays; only files of the right size are read.
  std::vector<const remote_file*> present;
  std::uint64_t present_bytes = 0;
  for (const auto& f : files)
    if (fs::is_regular_file(dir / f.path, ec) && fs::file_size(dir / f.path, ec) == f.size) {
      present.push_back(&f);
      present_bytes += f.size;
    }
  std::set<const remote_file*> unchanged;
  {
    transfer_progress checking(ctx, "Checking", present_bytes, present.size());
    for (std::size_t i = 0; i < present.size(); ++i) {
      checking.begin_file(i + 1, present[i]->path);
      if (sha256_of_file(dir / present[i]->path, &checking) == present[i]->sha256) unchanged.insert(present[i]);
    }
  }
  std::vector<const remote_file*> wanted;
  std::uint64_t total = 0;
  for (const auto& f : files)
    if (!unchanged.contains(&f)) {
      wanted.push_back(&f);
      total += f.size;
    }
  {
    transfer_progress downloading(ctx, "Downloading", total, wanted.size());
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      const auto& f = *wanted[i];
      const auto dest = dir / f.path;
      fs::create_directories(dest.parent_path(), ec);
      // A link in DIR must not lead a file out of it.
      if (ec || !is_inside(fs::weakly_canonical(dest, ec), root))
        throw file_error("cannot write " + dest.string() + (ec ? ": " + ec.message() : ": it leads out of " + dir.string()));
      downloading.begin_file(i + 1, f.path);
      download_file(ctx, id, sha, f, dest, downloading);
      if (!downloading.drawing() && !ctx.quiet)
        ctx.err << "downloaded " << f.path << " (" << format_bytes(f.size) << ")\n" << std::flush;
    }
  }
  if (ctx.json) {
    print_json(ctx, model);
  } else if (ctx.quiet) {
    ctx.out << sha << '\n';
  } else {
    std::uint64_t all = 0;
    for (const auto& f : files) all += f.size;
    const auto kept = files.size() - wanted.size();
    ctx.out << "Pulled " << id.text() << " revision " << sha << " into " << dir.string() << " ("
            << files_text(files.size(), all) << (kept == 0 ? "" : "; " + std::to_string(kept) + " already there") << ").\n";
  }
  return exit_ok;
}

// ---------------------------------------------------------------------------------------------
// models rm

int cmd_models_rm(context& ctx, const parsed_command& p) {
  const auto id = parse_model_id(p.args.at(0));
  ctx.model = id.text();
  ctx.missing_scope_hint = "Removing a model takes a token with the publish scope.\n"
                           "Make one: potluck tokens create NAME --scope publish";
  ctx.not_yours_hint = "Only " + id.owner + " may remove " + id.text() +
                       " (for an organisation: its members). See who you are: potluck account";
  if (!p.has("yes")) {
    if (!ctx.term.stdin_tty || !ctx.term.read_line)
      throw usage_error("potluck models rm removes " + id.text() + " and all its revisions for good; pass --yes to "
                        "confirm (stdin is not a terminal, so it cannot ask)");
    // Ask only about a model that is there, saying what goes.
    const auto model = find_model(ctx, id);
    if (!model) throw api_error(404, "model_not_found", "no model " + id.text());
    std::uint64_t bytes = 0;
    for (const auto& f : files_of(*model)) bytes += f.size;
    const auto revisions = revisions_of(ctx, id).size();
    ctx.err << "This removes " << id.text() << " for good: " << revisions << (revisions == 1 ? " revision" : " revisions")
            << ", the latest " << files_text(files_of(*model).size(), bytes) << ".\n"
            << "Type " << id.text() << " to confirm: " << std::flush;
    auto typed = ctx.term.read_line();
    std::string answer = typed ? *typed : std::string();
    while (!answer.empty() && (answer.back() == '\r' || answer.back() == ' ')) answer.pop_back();
    while (!answer.empty() && answer.front() == ' ') answer.erase(answer.begin());
    if (answer != id.text()) {
      if (!typed) ctx.err << '\n';
      ctx.err << "Not removed" << (answer.empty() ? "" : ": '" + answer + "' is not " + id.text()) << ".\n";
      return exit_usage;
    }
  }
  auto v = call(ctx, "DELETE", id.target(), {}, {200});
  if (!v.is_object()) throw api_error(200, "bad_reply", "the daemon's answer about removing " + id.text() + " is not an object");
  if (ctx.json) print_json(ctx, v);
  else if (ctx.quiet) ctx.out << string_field(v.as_object(), "id", id.text()) << '\n';
  else {
    const auto freed = std::max<std::int64_t>(0, int_field(v.as_object(), "bytes_freed"));
    ctx.out << "Removed " << string_field(v.as_object(), "id", id.text()) << " ("
            << format_bytes(static_cast<std::uint64_t>(freed)) << " freed).\n";
  }
  return exit_ok;
}

}  // namespace potluck::cli
