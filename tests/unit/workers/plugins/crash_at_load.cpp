// A plugin for the worker's tests only: it crashes its runner with SIGSEGV while being loaded
// (in its entry function), before the runner can say hello.
#include <potluck/plugin.hpp>

#include <csignal>
#include <cstdlib>

namespace {

potluck::plugin_def crash_while_loading() {
  std::raise(SIGSEGV);
  std::abort();
}

}  // namespace

POTLUCK_PLUGIN(crash_while_loading())
