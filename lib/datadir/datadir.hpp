#pragma once
// Where imc's shipped data lives (fits/, models/, netlists/): the one lookup every stage and
// command uses, so an installed imc and a source checkout read the same files the same way.
#include <filesystem>
#include <string_view>

namespace imc {

// The shipped data folder `folder` ("fits", "models", "netlists", or a path below one), the first of:
//   1. $IMC_DATA_DIR/<folder> when IMC_DATA_DIR is set (taken as given, so a wrong value is
//      named by the caller's "missing file" message rather than silently replaced);
//   2. the installed layout beside the running program: <bin>/../share/imc/<folder>;
//   3. the source tree imc was built from, for programs run from a build tree (skipped when
//      IMC_NO_SOURCE_TREE is set, which proves an installation stands on its own).
// When none exists: the installed-layout path, so messages name where the data should be.
std::filesystem::path dataPath(std::string_view folder);

}  // namespace imc
