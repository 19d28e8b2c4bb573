// The router on its own: dispatch() called directly with a callback responder.
#define BOOST_TEST_MODULE http_router
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

#include <boost/json.hpp>

#include "daemon/http/http.hpp"
#include "daemon/http/testing.hpp"

using namespace potluck::daemon::http;

namespace {

struct dispatched {
  std::optional<response> reply;
  request req;
};

dispatched call(const router& routes, std::string method, std::string path) {
  dispatched d;
  d.req.method = std::move(method);
  d.req.path = std::move(path);
  routes.dispatch(d.req, callback_responder([&](response r) { d.reply = std::move(r); }));
  return d;
}

std::string header_of(const response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

router sample_routes() {
  router routes;
  routes.add("GET", "/api/v1/jobs/{id}", [](request& req, responder res) {
    res.send(json(200, "{\"id\":\"" + req.path_params.at("id") + "\"}"));
  });
  routes.add("POST", "/api/v1/jobs/{id}/cancel", [](request& req, responder res) {
    res.send(json(202, req.path_params.at("id")));
  });
  routes.add("DELETE", "/api/v1/jobs/{id}", [](request&, responder res) {
    res.send(json(204, ""));
  });
  routes.add("GET", "/", [](request&, responder res) { res.send(json(200, "root")); });
  return routes;
}

}  // namespace

BOOST_AUTO_TEST_CASE(path_parameters_are_extracted) {
  auto routes = sample_routes();
  auto d = call(routes, "GET", "/api/v1/jobs/42");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 200u);
  BOOST_TEST(d.reply->body == "{\"id\":\"42\"}");
  BOOST_TEST(d.req.path_params.at("id") == "42");

  d = call(routes, "POST", "/api/v1/jobs/7/cancel");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 202u);
  BOOST_TEST(d.reply->body == "7");
}

BOOST_AUTO_TEST_CASE(trailing_slash_is_tolerated_and_root_matches) {
  auto routes = sample_routes();
  auto d = call(routes, "GET", "/api/v1/jobs/42/");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 200u);
  d = call(routes, "GET", "/");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->body == "root");
}

BOOST_AUTO_TEST_CASE(unknown_path_is_404_naming_the_path) {
  auto routes = sample_routes();
  for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/1/cancel/x", "/nope", "/api/v1/jobs//"}) {
    auto d = call(routes, "GET", path);
    BOOST_REQUIRE(d.reply);
    BOOST_TEST(d.reply->status == 404u);
    auto body = boost::json::parse(d.reply->body);
    BOOST_TEST(body.at("error").at("code").as_string() == "not_found");
    BOOST_TEST(std::string(body.at("error").at("message").as_string()).find(path) !=
               std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(wrong_method_is_405_with_allow) {
  auto routes = sample_routes();
  auto d = call(routes, "PUT", "/api/v1/jobs/42");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 405u);
  BOOST_TEST(header_of(*d.reply, "Allow") == "GET, DELETE");
  auto body = boost::json::parse(d.reply->body);
  BOOST_TEST(body.at("error").at("code").as_string() == "method_not_allowed");
}

BOOST_AUTO_TEST_CASE(json_error_escapes_its_message) {
  auto r = json_error(400, "bad_input", "quote \" backslash \\ newline \n");
  BOOST_TEST(r.status == 400u);
  BOOST_TEST(r.content_type == "application/json");
  auto body = boost::json::parse(r.body);
  BOOST_TEST(body.at("error").at("message").as_string() == "quote \" backslash \\ newline \n");
}

BOOST_AUTO_TEST_CASE(dropped_responder_answers_500_and_second_answer_is_ignored) {
  router routes;
  routes.add("GET", "/drop", [](request&, responder) {});
  routes.add("GET", "/twice", [](request&, responder res) {
    res.send(json(200, "first"));
    res.send(json(201, "second"));
  });
  auto d = call(routes, "GET", "/drop");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 500u);
  BOOST_TEST(boost::json::parse(d.reply->body).at("error").at("code").as_string() == "internal");

  int answers = 0;
  request req;
  req.method = "GET";
  req.path = "/twice";
  routes.dispatch(req, callback_responder([&](response r) {
                    ++answers;
                    BOOST_TEST(r.body == "first");
                  }));
  BOOST_TEST(answers == 1);
}

BOOST_AUTO_TEST_CASE(a_rest_parameter_takes_the_remaining_segments) {
  router routes;
  routes.add("GET", "/{owner}/{name}/resolve/{rev}/{path*}", [](request& req, responder res) {
    res.send(json(200, req.path_params.at("owner") + "|" + req.path_params.at("rev") + "|" + req.path_params.at("path")));
  });
  auto d = call(routes, "GET", "/alice/m/resolve/main/model/weights.pt");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->body == "alice|main|model/weights.pt");
  d = call(routes, "GET", "/alice/m/resolve/main/README.md");
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->body == "alice|main|README.md");
  d = call(routes, "GET", "/alice/m/resolve/main");  // the rest needs one segment at least
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 404u);
  d = call(routes, "GET", "/alice/m/resolve/main/a//b");  // and no empty one
  BOOST_REQUIRE(d.reply);
  BOOST_TEST(d.reply->status == 404u);
}
