# The wheel built by `pip install .` / `pip wheel .` (scikit-build-core,
# pyproject.toml). Only the component "python" goes into the wheel
# (install.components), so what `make install` ships stays out of it:
#   <platlib>/joule/            the package (python/joule)
#   <platlib>/joule/libjoule.so the library, where joule/_lib.py looks first
# libjoule.so is the one real file (no soname symlinks: a wheel has none);
# ctypes loads it by path. Its own dependencies (libcjson, libsqlite3) are
# the system's.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/joule
        DESTINATION ${SKBUILD_PLATLIB_DIR}
        COMPONENT python
        PATTERN __pycache__ EXCLUDE)
install(FILES $<TARGET_FILE:joule>
        DESTINATION ${SKBUILD_PLATLIB_DIR}/joule
        RENAME libjoule.so
        COMPONENT python)
