/* Which source a binary was built from: the tree's `git describe --always
 * --dirty --abbrev=12` at build time ("unknown" outside a git checkout),
 * written by the Makefile into BUILD/gen/commit.c only when it changes. */
#ifndef SWAPBENCH_PROVENANCE_H
#define SWAPBENCH_PROVENANCE_H

extern const char build_commit[];

#endif
