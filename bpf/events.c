// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Records from the ring buffer: printed, and applied to the targets (see events.h). */
#include <linux/types.h>
#include "events.h"
#include "records.h"
#include "resolver.h"
#include "ring.h"
#include "targets.h"
#include "tracer.h"

static void on_record(const void *data, size_t size)
{
	if (!print_record(data, size))
		return;
	const struct rec_hdr *h = data;
	int target = h->target;
	switch (h->type) {
	case REC_FORK:
	case REC_JOIN:
	case REC_CONTAINER:
		if (target_known(target))
			add_pid(target, ((const struct fork_rec *)data)->pid);
		break;
	case REC_EXIT:
		if (target_exited(target, ((const struct exit_rec *)data)->pid)) {
			if (!target_has_pods(target)) /* a pod may start containers again */
				print_target_empty(target);
			resolver_forget(target);
			finish_kill(target);
		}
		break;
	}
}

void drain(void)
{
	ring_drain(on_record);
}
