/* GPU telemetry for the vram backend from NVML, loaded at run time
 * (libnvidia-ml.so.1), so that vramd runs where the driver has none: the
 * device handle, the live figures stats carry (memory, PCIe throughput,
 * clocks, temperature, power) and the --dump-backend lines naming the
 * GPUs.  Try: build/vramd --backend vram --dump-backend */
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "vram-internal.h"

typedef int nvml_ret;
typedef void *nvml_dev;
struct nvml_memory {
	unsigned long long total, free, used;
};
struct nvml_process_info {
	unsigned int pid;
	unsigned long long used_gpu_memory;
	unsigned int gpu_instance_id, compute_instance_id;
};

static struct {
	pthread_once_t once;
	void *lib;
	nvml_ret (*init)(void);
	nvml_ret (*by_index)(unsigned, nvml_dev *);
	nvml_ret (*memory)(nvml_dev, struct nvml_memory *);
	nvml_ret (*pcie)(nvml_dev, int, unsigned *);
	nvml_ret (*clock)(nvml_dev, int, unsigned *);
	nvml_ret (*throttle)(nvml_dev, unsigned long long *);
	nvml_ret (*procs)(nvml_dev, unsigned *, struct nvml_process_info *);
	nvml_ret (*temp)(nvml_dev, int, unsigned *);
	nvml_ret (*power)(nvml_dev, unsigned *);
	nvml_ret (*name)(nvml_dev, char *, unsigned);
	nvml_ret (*driver)(char *, unsigned);
	nvml_ret (*link_gen)(nvml_dev, unsigned *);
	nvml_ret (*link_width)(nvml_dev, unsigned *);
	nvml_ret (*link_gen_max)(nvml_dev, unsigned *);
	nvml_ret (*link_width_max)(nvml_dev, unsigned *);
	const char *why;
} nvml = { .once = PTHREAD_ONCE_INIT };

static void nvml_load(void)
{
	nvml.lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nvml.lib) {
		nvml.why = "libnvidia-ml.so.1 not found";
		return;
	}
#define SYM(f, n) (*(void **)&nvml.f = dlsym(nvml.lib, n))
	SYM(init, "nvmlInit_v2");
	SYM(by_index, "nvmlDeviceGetHandleByIndex_v2");
	SYM(memory, "nvmlDeviceGetMemoryInfo");
	SYM(pcie, "nvmlDeviceGetPcieThroughput");
	SYM(clock, "nvmlDeviceGetClockInfo");
	if (!SYM(throttle, "nvmlDeviceGetCurrentClocksEventReasons"))
		SYM(throttle, "nvmlDeviceGetCurrentClocksThrottleReasons");
	if (!SYM(procs, "nvmlDeviceGetComputeRunningProcesses_v3"))
		SYM(procs, "nvmlDeviceGetComputeRunningProcesses");
	SYM(temp, "nvmlDeviceGetTemperature");
	SYM(power, "nvmlDeviceGetPowerUsage");
	SYM(name, "nvmlDeviceGetName");
	SYM(driver, "nvmlSystemGetDriverVersion");
	SYM(link_gen, "nvmlDeviceGetCurrPcieLinkGeneration");
	SYM(link_width, "nvmlDeviceGetCurrPcieLinkWidth");
	SYM(link_gen_max, "nvmlDeviceGetMaxPcieLinkGeneration");
	SYM(link_width_max, "nvmlDeviceGetMaxPcieLinkWidth");
#undef SYM
	if (!nvml.init || !nvml.by_index || nvml.init() != 0) {
		nvml.why = "nvmlInit failed";
		nvml.init = NULL;
	}
}

/* NVML's index order may differ from CUDA's: match on the PCI bus id. */
void *nvml_device(int gpu)
{
	char busid[32];
	nvml_ret (*by_bus)(const char *, nvml_dev *);
	nvml_dev d = NULL;

	pthread_once(&nvml.once, nvml_load);
	if (!nvml.init)
		return NULL;
	*(void **)&by_bus = dlsym(nvml.lib, "nvmlDeviceGetHandleByPciBusId_v2");
	if (by_bus && cudaDeviceGetPCIBusId(busid, sizeof busid, gpu) == cudaSuccess &&
	    by_bus(busid, &d) == 0)
		return d;
	return nvml.by_index((unsigned)gpu, &d) == 0 ? d : NULL;
}

/* The GPU's live figures for stats: the end of vram_describe. */
void nvml_describe(const struct vram *v, json_t *o)
{
	struct nvml_memory m;
	unsigned x, n = 0;
	unsigned long long reasons;

	if (!v->nvml) {
		json_object_set_new(o, "nvml", json_string(nvml.why ? nvml.why : "unavailable"));
		return;
	}
	if (nvml.memory && nvml.memory(v->nvml, &m) == 0) {
		json_object_set_new(o, "vram_total_bytes", json_integer((json_int_t)m.total));
		json_object_set_new(o, "vram_used_bytes", json_integer((json_int_t)m.used));
		json_object_set_new(o, "vram_free_bytes", json_integer((json_int_t)m.free));
	}
	/* NVML reports PCIe throughput in KB/s over a 20 ms window. */
	if (nvml.pcie && nvml.pcie(v->nvml, 0, &x) == 0)
		json_object_set_new(o, "pcie_tx_bytes_per_s", json_integer((json_int_t)x * 1024));
	if (nvml.pcie && nvml.pcie(v->nvml, 1, &x) == 0)
		json_object_set_new(o, "pcie_rx_bytes_per_s", json_integer((json_int_t)x * 1024));
	if (nvml.clock && nvml.clock(v->nvml, 1, &x) == 0)
		json_object_set_new(o, "sm_clock_mhz", json_integer(x));
	if (nvml.clock && nvml.clock(v->nvml, 2, &x) == 0)
		json_object_set_new(o, "mem_clock_mhz", json_integer(x));
	if (nvml.throttle && nvml.throttle(v->nvml, &reasons) == 0)
		json_object_set_new(o, "throttle_reasons_mask", json_integer((json_int_t)reasons));
	if (nvml.temp && nvml.temp(v->nvml, 0, &x) == 0)
		json_object_set_new(o, "temperature_c", json_integer(x));
	if (nvml.power && nvml.power(v->nvml, &x) == 0)
		json_object_set_new(o, "power_mw", json_integer(x));
	if (nvml.procs) {
		/* With no buffer NVML returns the count (INSUFFICIENT_SIZE). */
		nvml.procs(v->nvml, &n, NULL);
		json_object_set_new(o, "gpu_processes", json_integer(n));
	}
}

/* NVML's load, as --dump-backend reports it. */
void nvml_dump_status(FILE *f)
{
	pthread_once(&nvml.once, nvml_load);
	fprintf(f, "nvml=%s\n", nvml.init ? "yes" : nvml.why ? nvml.why : "no");
}

/* NVML's unsigned getter G on D as "=N", or "=?". */
static void dump_nvml_uint(FILE *f, const char *key, int gpu, nvml_ret (*g)(nvml_dev, unsigned *),
			   nvml_dev d)
{
	unsigned v;

	if (d && g && g(d, &v) == 0)
		fprintf(f, "gpu%d_%s=%u\n", gpu, key, v);
	else
		fprintf(f, "gpu%d_%s=?\n", gpu, key);
}

/* The GPUs by CUDA index (what --gpu takes): name, memory, PCIe link now
 * and at most, from NVML where it answers, else CUDA's name and memory.
 * The driver's version once. */
void dump_gpus(FILE *f)
{
	char text[96];
	int n = 0, i;

	if (nvml.init && nvml.driver && nvml.driver(text, sizeof text) == 0)
		fprintf(f, "gpu_driver=%s\n", text);
	if (cudaGetDeviceCount(&n) != cudaSuccess)
		n = 0;
	fprintf(f, "gpu_count=%d\n", n);
	for (i = 0; i < n; i++) {
		nvml_dev d = nvml_device(i);
		struct nvml_memory m;
		struct cudaDeviceProp prop;
		bool have_prop = cudaGetDeviceProperties(&prop, i) == cudaSuccess;

		if (d && nvml.name && nvml.name(d, text, sizeof text) == 0)
			fprintf(f, "gpu%d_name=%s\n", i, text);
		else
			fprintf(f, "gpu%d_name=%s\n", i, have_prop ? prop.name : "?");
		if (d && nvml.memory && nvml.memory(d, &m) == 0)
			fprintf(f, "gpu%d_vram_total_bytes=%llu\n", i, m.total);
		else if (have_prop)
			fprintf(f, "gpu%d_vram_total_bytes=%zu\n", i, prop.totalGlobalMem);
		dump_nvml_uint(f, "pcie_gen", i, nvml.link_gen, d);
		dump_nvml_uint(f, "pcie_width", i, nvml.link_width, d);
		dump_nvml_uint(f, "pcie_gen_max", i, nvml.link_gen_max, d);
		dump_nvml_uint(f, "pcie_width_max", i, nvml.link_width_max, d);
	}
}
