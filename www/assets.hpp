#pragma once
// The web page's static files (www/static/), compiled into the binary by cmake/EmbedAssets.cmake
// so that a master serves its page with no file and no network at run time.
#include <string_view>

namespace ym::www {

struct Asset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // with "; charset=utf-8" for text
  std::string_view body;
};

// The file served at `path`: "/" is /index.html; exact matches only, so no path can reach
// anything but these files. nullptr for any other path.
const Asset* find_asset(std::string_view path);

}  // namespace ym::www
