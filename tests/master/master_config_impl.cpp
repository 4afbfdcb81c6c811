// The configuration parser of the `yardmaster` executable, compiled into the test binary so that
// tests/master/master_test.cpp can test it in-process (the executable's sources are not a
// library; this keeps the build files as they are).
#include "master/config.cpp"
