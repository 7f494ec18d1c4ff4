# Helpers that keep the layout self-describing:
#   fromscratch_pure_library(NAME DIR [DEPS ...])  src/DIR/*.cpp -> library fromscratch_NAME, checked MPI/CUDA/HDF5-free
#   fromscratch_add_mpi_test(NAME COMMAND ... RANKS n...)  the same test at each rank count, label "mpi"

set(FROMSCRATCH_PURE_DIRS "" CACHE INTERNAL "")

function(fromscratch_pure_library name dir)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cpp)
  add_library(fromscratch_${name} STATIC ${srcs})
  target_include_directories(fromscratch_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(fromscratch_${name} PUBLIC ${ARG_DEPS})
  set_target_properties(fromscratch_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_dependencies(fromscratch_${name} fromscratch_check_pure_includes)
  set(FROMSCRATCH_PURE_DIRS "${FROMSCRATCH_PURE_DIRS};src/${dir};include/fromscratch/${dir}" CACHE INTERNAL "")
endfunction()

# Runs at build time, after all pure libraries are declared (call once from src/CMakeLists.txt).
function(fromscratch_enforce_pure_includes)
  add_custom_target(fromscratch_check_pure_includes ALL
    COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} "-DDIRS=${FROMSCRATCH_PURE_DIRS}"
            -P ${PROJECT_SOURCE_DIR}/cmake/CheckPureIncludes.cmake
    COMMENT "Checking that pure libraries include no MPI, NCCL, CUDA or HDF5 header"
    VERBATIM)
endfunction()

# The same MPI test at several rank counts (1, 2 and an odd count by default), each with PROCESSORS set
# so ctest -j does not oversubscribe the machine.
function(fromscratch_add_mpi_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "COMMAND;RANKS;LABELS" ${ARGN})
  if(NOT ARG_RANKS)
    set(ARG_RANKS 1 2 3)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  foreach(n IN LISTS ARG_RANKS)
    add_test(NAME ${name}.ranks${n}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${n} --oversubscribe ${MPIEXEC_PREFLAGS}
                     ${ARG_COMMAND})
    set_tests_properties(${name}.ranks${n} PROPERTIES PROCESSORS ${n} LABELS "mpi;${ARG_LABELS}"
                         TIMEOUT ${ARG_TIMEOUT}
                         ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  endforeach()
endfunction()
