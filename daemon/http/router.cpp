// The router: one flat table of method + path pattern -> handler, and the static folder for
// GETs that match no route.
//
// Threads: routes are added before the server starts; dispatch() is const and runs on many
// session strands at once. Matching walks the path in place (string_views, no allocation)
// until a route is chosen; only then are its "{name}" parameters copied out.
#include <array>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include <spdlog/spdlog.h>

#include "daemon/http/http.hpp"

namespace potluck::daemon::http {
namespace {

bool is_param(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// "/a/b/" -> "a/b"; "/" -> "". A single trailing slash is tolerated.
std::string_view relative(std::string_view path) {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

// Calls fn(segment) for each '/'-separated segment of rel; stops early when fn returns false.
template <typename Fn>
bool for_each_segment(std::string_view rel, Fn&& fn) {
  if (rel.empty()) return true;
  std::size_t pos = 0;
  for (;;) {
    std::size_t end = rel.find('/', pos);
    std::string_view part = rel.substr(pos, end == std::string_view::npos ? rel.npos : end - pos);
    if (!fn(part)) return false;
    if (end == std::string_view::npos) return true;
    pos = end + 1;
  }
}

// "{path*}", last in a pattern: one or more segments, the rest of the path.
bool is_rest_param(const std::string& segment) { return is_param(segment) && segment[segment.size() - 2] == '*'; }

bool matches(const std::vector<std::string>& segments, std::string_view rel) {
  std::size_t i = 0;
  bool in_rest = false;
  bool ok = for_each_segment(rel, [&](std::string_view part) {
    if (in_rest) return !part.empty();
    if (i >= segments.size()) return false;
    const std::string& seg = segments[i++];
    if (is_rest_param(seg)) in_rest = true;
    if (is_param(seg)) return !part.empty();
    return part == seg;
  });
  return ok && i == segments.size();
}

void fill_params(const std::vector<std::string>& segments, std::string_view rel,
                 std::map<std::string, std::string>& params) {
  std::size_t i = 0;
  std::string* rest = nullptr;
  for_each_segment(rel, [&](std::string_view part) {
    if (rest) {
      *rest += '/';
      *rest += part;
      return true;
    }
    const std::string& seg = segments[i++];
    if (is_rest_param(seg)) {
      rest = &params[seg.substr(1, seg.size() - 3)];
      *rest = std::string(part);
    } else if (is_param(seg)) {
      params[seg.substr(1, seg.size() - 2)] = std::string(part);
    }
    return true;
  });
}

struct content_type_entry {
  std::string_view extension;
  std::string_view type;
};
constexpr std::array<content_type_entry, 11> content_types{{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".map", "application/json"},
}};

std::string_view content_type_for(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  for (const auto& entry : content_types) {
    if (entry.extension == ext) return entry.type;
  }
  return "application/octet-stream";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A segment is safe to join under the static folder when it names a plain entry: not ".",
// "..", empty, nor anything that could climb or restart the path, even if the path handed
// to dispatch() was not (or was twice) percent-decoded.
bool safe_segment(std::string_view seg) {
  if (seg.empty() || seg == "." || seg == "..") return false;
  std::string decoded;
  decoded.reserve(seg.size());
  for (std::size_t i = 0; i < seg.size(); ++i) {
    char c = seg[i];
    if (c == '\\' || c == '\0' || c == ':') return false;
    if (c == '%' && i + 2 < seg.size()) {
      int hi = hex_value(seg[i + 1]);
      int lo = hex_value(seg[i + 2]);
      if (hi >= 0 && lo >= 0) {
        decoded.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    decoded.push_back(c);
  }
  if (decoded == "." || decoded == ".." || decoded.find('/') != std::string::npos ||
      decoded.find('\\') != std::string::npos) {
    return false;
  }
  return true;
}

bool read_file(const std::filesystem::path& file, std::string& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (!ec) out.reserve(static_cast<std::size_t>(size));
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

response not_found(const request& req) {
  return json_error(404, "not_found", "no such path: " + req.path);
}

}  // namespace

void router::add(std::string method, std::string pattern, handler h) {
  route r;
  r.method = std::move(method);
  for_each_segment(relative(pattern), [&](std::string_view part) {
    r.segments.emplace_back(part);
    return true;
  });
  r.h = std::move(h);
  routes_.push_back(std::move(r));
}

void router::add_upload(std::string method, std::string pattern, std::uint64_t max_bytes, upload_opener open) {
  upload_entry u;
  u.method = std::move(method);
  for_each_segment(relative(pattern), [&](std::string_view part) {
    u.segments.emplace_back(part);
    return true;
  });
  u.upload = {max_bytes, std::move(open)};
  uploads_.push_back(std::move(u));
}

const router::upload_route* router::find_upload(request& req) const {
  std::string_view rel = relative(req.path);
  for (const auto& u : uploads_) {
    if (u.method != req.method || !matches(u.segments, rel)) continue;
    req.path_params.clear();
    fill_params(u.segments, rel, req.path_params);
    return &u.upload;
  }
  return nullptr;
}

void router::set_static_dir(std::filesystem::path dir) { static_dir_ = std::move(dir); }

void router::dispatch(request& req, responder res) const {
  std::string_view rel = relative(req.path);
  bool path_matched = false;
  for (const route& r : routes_) {
    if (!matches(r.segments, rel)) continue;
    path_matched = true;
    if (r.method != req.method) continue;
    req.path_params.clear();
    fill_params(r.segments, rel, req.path_params);
    r.h(req, std::move(res));
    return;
  }

  if (path_matched) {
    std::vector<std::string_view> methods;
    std::string allow;
    for (const route& r : routes_) {
      if (!matches(r.segments, rel)) continue;
      bool seen = false;
      for (std::string_view m : methods) seen = seen || m == r.method;
      if (seen) continue;
      methods.push_back(r.method);
      if (!allow.empty()) allow += ", ";
      allow += r.method;
    }
    response out = json_error(405, "method_not_allowed",
                              "method " + req.method + " is not allowed on " + req.path +
                                  " (allowed: " + allow + ")");
    out.headers.emplace_back("Allow", std::move(allow));
    res.send(std::move(out));
    return;
  }

  if (static_dir_ && (req.method == "GET" || req.method == "HEAD")) {
    std::filesystem::path file = *static_dir_;
    bool ok = for_each_segment(rel, [&](std::string_view seg) {
      if (!safe_segment(seg)) return false;
      file /= std::filesystem::path(std::string(seg));
      return true;
    });
    // A path that is not origin-form ("//x" gives an empty first segment, refused above).
    if (ok && (req.path.empty() || req.path.front() != '/')) ok = false;
    if (!ok) {
      spdlog::debug("http: refused static path {}", req.path);
      res.send(not_found(req));
      return;
    }
    std::error_code ec;
    if (rel.empty() || std::filesystem::is_directory(file, ec)) file /= "index.html";
    response out;
    if (!std::filesystem::is_regular_file(file, ec) || !read_file(file, out.body)) {
      res.send(not_found(req));
      return;
    }
    out.status = 200;
    out.content_type = std::string(content_type_for(file));
    out.headers.emplace_back("Cache-Control", "no-cache");
    out.headers.emplace_back("X-Content-Type-Options", "nosniff");
    res.send(std::move(out));
    return;
  }

  res.send(not_found(req));
}

}  // namespace potluck::daemon::http
