// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The ring buffer reader (see ring.h). */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "ring.h"
#include "spool.h"

/* The kernel's mmap layout: consumer page, producer page, data twice. Own
 * reader instead of libbpf's so that the consumer position is advanced only
 * after the records' output reached the spool. */
static struct {
	unsigned long *consumer_pos;
	const unsigned long *producer_pos;
	const char *data;
	unsigned long mask;
	size_t page, data_sz;
} ring;
static unsigned long commit_every; /* ring bytes consumed between commits of the position */

/* Without a spool the consumer position advances after each record (as
 * libbpf does); with one, after each batch of `commit_every` ring bytes once
 * that batch's output has been written to the spool, so a record is always
 * in the ring or in the spool. */
void ring_drain(void (*on_record)(const void *data, size_t size))
{
	unsigned long cons = __atomic_load_n(ring.consumer_pos, __ATOMIC_ACQUIRE), done = cons;
	bool more = true;
	while (more) {
		more = false;
		unsigned long prod = __atomic_load_n(ring.producer_pos, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			const __u32 *lenp = (const __u32 *)(ring.data + (cons & ring.mask));
			__u32 len = __atomic_load_n(lenp, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				goto out;
			more = true;
			__u32 n = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			cons += (n + BPF_RINGBUF_HDR_SZ + 7) & ~7UL;
			if (!(len & BPF_RINGBUF_DISCARD_BIT))
				on_record(lenp + 2, n);
			if (cons - done >= commit_every) {
				spool_commit();
				__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
				done = cons;
			}
		}
	}
out:
	if (cons != done) {
		spool_commit();
		__atomic_store_n(ring.consumer_pos, cons, __ATOMIC_RELEASE);
	}
}

int ring_open(int fd, bool spooled)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	ring.page = sysconf(_SC_PAGESIZE);
	ring.data_sz = info.max_entries;
	ring.mask = info.max_entries - 1;
	void *c = mmap(NULL, ring.page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (c == MAP_FAILED)
		return -errno;
	void *p = mmap(NULL, ring.page + 2 * ring.data_sz, PROT_READ, MAP_SHARED, fd, ring.page);
	if (p == MAP_FAILED)
		return -errno;
	ring.consumer_pos = c;
	ring.producer_pos = p;
	ring.data = (const char *)p + ring.page;
	commit_every = spooled ? (ring.data_sz / 16 > 4096 ? ring.data_sz / 16 : 4096) : 1;
	return 0;
}
