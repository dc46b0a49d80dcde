/*
 * Memory probe of the budget build (manifests/budget, desktop simulator only): live XS memory
 * right after a full, compacting collection, and memory outside the XS heap for the simulated
 * flash partitions (on a board the flash chip is not in RAM, so its cells must not count
 * against the board's chunk budget).
 */
#include "xsAll.h"
#include "xsmc.h"
#include "mc.xs.h"
#include <stdlib.h>

void xs_pipewatch_memory(xsMachine *the)
{
	xsCollectGarbage();
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetInteger(xsVar(0), (txInteger)the->currentHeapCount);
	xsmcSet(xsResult, xsID_slots, xsVar(0));
	xsmcSetInteger(xsVar(0), (txInteger)the->currentChunksSize);
	xsmcSet(xsResult, xsID_chunk, xsVar(0));
	xsmcSetInteger(xsVar(0), (txInteger)sizeof(txSlot));
	xsmcSet(xsResult, xsID_slotBytes, xsVar(0));
}

void xs_pipewatch_storage(xsMachine *the)
{
	txInteger size = xsmcToInteger(xsArg(0));
	void *cells;
	if ((size <= 0) || (size > (1 << 24)))
		xsRangeError("storage size");
	cells = calloc(1, size);
	if (!cells)
		xsUnknownError("no memory for simulated flash");
	xsResult = xsNewHostObject(NULL);
	xsmcSetHostBuffer(xsResult, cells, size);
}
