/* The workload engines' registry: see workload.h. */
#include <string.h>

#include "workload.h"

static const struct workload_ops *const workloads[] = {
#define X(n) &workload_##n,
	WORKLOADS(X)
#undef X
	NULL,
};

const struct workload_ops *workload_find(const char *name)
{
	size_t i;

	for (i = 0; workloads[i]; i++)
		if (!strcmp(workloads[i]->name, name))
			return workloads[i];
	return NULL;
}

const char *workload_names(void)
{
	static char names[128];
	size_t i;

	if (!names[0])
		for (i = 0; workloads[i]; i++) {
			if (i)
				strncat(names, i + 1 == sizeof workloads / sizeof workloads[0] - 1 ? " or " : ", ",
					sizeof names - strlen(names) - 1);
			strncat(names, workloads[i]->name, sizeof names - strlen(names) - 1);
		}
	return names;
}
