#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
// The libpq door. pkg-config libpq supplies -I/usr/include/postgresql.
// Only the Swift module `Postgres` imports this module.
#include <libpq-fe.h>
#endif
