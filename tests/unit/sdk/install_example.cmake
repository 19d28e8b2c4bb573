# sdk_install_example_test (run by ctest; see CMakeLists.txt here): the plugin author's path.
#   1. install the SDK component of the build tree into a temp prefix;
#   2. configure examples/plugin-minimal against that prefix with a fresh CMake, warnings as
#      errors, and check that it found Potluck there and nowhere else;
#   3. build it, then load libpotluck-example.so with plugin_host and run example.scale (CHECKER).
foreach(var BUILD_DIR EXAMPLE_DIR WORK_DIR GENERATOR CHECKER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_example.cmake: pass -D${var}=...")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
set(build "${WORK_DIR}/build")

execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --component sdk --prefix "${prefix}"
  COMMAND_ERROR_IS_FATAL ANY)
foreach(expected include/potluck/plugin.h include/potluck/plugin.hpp)
  if(NOT EXISTS "${prefix}/${expected}")
    message(FATAL_ERROR "the sdk component did not install ${expected}")
  endif()
endforeach()
file(GLOB_RECURSE config_file "${prefix}/*/PotluckConfig.cmake")
if(NOT config_file)
  message(FATAL_ERROR "the sdk component did not install PotluckConfig.cmake")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" -S "${EXAMPLE_DIR}" -B "${build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}"
    -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Werror"
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
  COMMAND_ERROR_IS_FATAL ANY)
file(STRINGS "${build}/CMakeCache.txt" potluck_dir REGEX "^Potluck_DIR:")
string(FIND "${potluck_dir}" "${prefix}/" at)
if(NOT at GREATER -1)
  message(FATAL_ERROR "the example found Potluck outside the temp prefix: ${potluck_dir}")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}" COMMAND_ERROR_IS_FATAL ANY)
set(plugin "${build}/libpotluck-example.so")
if(NOT EXISTS "${plugin}")
  message(FATAL_ERROR "building the example made no ${plugin}")
endif()

execute_process(COMMAND "${CMAKE_COMMAND}" -E env "POTLUCK_EXAMPLE_PLUGIN=${plugin}"
    "${CHECKER}" --log_level=message --report_level=short
  COMMAND_ERROR_IS_FATAL ANY)
message(STATUS "the example plugin built against the installed SDK loads and runs")
