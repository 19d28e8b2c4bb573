// What the store tests share: a temp folder that holds a journal and is removed at the end.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace potluck::daemon::testing {

// A fresh folder under the system temp folder, removed with everything in it at the end.
struct temp_folder {
  std::filesystem::path path;
  temp_folder() {
    std::random_device random;
    path = std::filesystem::temp_directory_path() /
           ("potluck-test-" + std::to_string(random()) + "-" + std::to_string(random()));
    std::filesystem::create_directories(path);
  }
  ~temp_folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  temp_folder(const temp_folder&) = delete;
  temp_folder& operator=(const temp_folder&) = delete;
  std::filesystem::path journal() const { return path / "var" / "journal.db"; }
};

}  // namespace potluck::daemon::testing
