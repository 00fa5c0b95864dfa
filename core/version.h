/* version.h - the suite's version string and results-file schema version. */
#ifndef LF_VERSION_H
#define LF_VERSION_H

#define LF_VERSION "0.1.0"
#define LF_SCHEMA_VERSION 1

#endif
