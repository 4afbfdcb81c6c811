# Finds MySQL Connector/C++ 1.1 (the legacy `sql::` API), for which Debian ships no CMake or
# pkg-config file. Defines MySQLConnectorCpp_FOUND, MySQLConnectorCpp_VERSION and the imported
# target MySQLConnectorCpp::MySQLConnectorCpp.
#
# Hints: MySQLConnectorCpp_ROOT (a prefix with include/ and lib/).

find_path(MySQLConnectorCpp_INCLUDE_DIR
  NAMES mysql_driver.h cppconn/driver.h
  PATH_SUFFIXES include)
find_library(MySQLConnectorCpp_LIBRARY
  NAMES mysqlcppconn
  PATH_SUFFIXES lib lib64)

if(MySQLConnectorCpp_INCLUDE_DIR AND EXISTS "${MySQLConnectorCpp_INCLUDE_DIR}/cppconn/version_info.h")
  set(_ym_parts)
  foreach(_ym_part MAJOR MINOR PATCH)
    file(STRINGS "${MySQLConnectorCpp_INCLUDE_DIR}/cppconn/version_info.h" _ym_line
      REGEX "^#define MYCPPCONN_DM_${_ym_part}_VERSION ")
    string(REGEX REPLACE ".*VERSION +([0-9]+).*" "\\1" _ym_line "${_ym_line}")
    list(APPEND _ym_parts "${_ym_line}")
  endforeach()
  list(JOIN _ym_parts "." MySQLConnectorCpp_VERSION)
  unset(_ym_parts)
  unset(_ym_line)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MySQLConnectorCpp
  REQUIRED_VARS MySQLConnectorCpp_LIBRARY MySQLConnectorCpp_INCLUDE_DIR
  VERSION_VAR MySQLConnectorCpp_VERSION)

if(MySQLConnectorCpp_FOUND AND NOT TARGET MySQLConnectorCpp::MySQLConnectorCpp)
  add_library(MySQLConnectorCpp::MySQLConnectorCpp UNKNOWN IMPORTED)
  set_target_properties(MySQLConnectorCpp::MySQLConnectorCpp PROPERTIES
    IMPORTED_LOCATION "${MySQLConnectorCpp_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MySQLConnectorCpp_INCLUDE_DIR}")
endif()
mark_as_advanced(MySQLConnectorCpp_INCLUDE_DIR MySQLConnectorCpp_LIBRARY)
