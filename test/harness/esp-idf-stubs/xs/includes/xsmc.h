/* Stub of the XS in C "xsmc" API for the native compile check (see ../../README.md). */
#pragma once
#include "xs.h"

void fxVars(xsMachine *the, xsIntegerValue count);
void fxNewObject(xsMachine *the, xsSlot *result);
void fxInteger(xsMachine *the, xsSlot *slot, xsIntegerValue value);
void fxNumber(xsMachine *the, xsSlot *slot, xsNumberValue value);
void fxBoolean(xsMachine *the, xsSlot *slot, xsBooleanValue value);
void fxString(xsMachine *the, xsSlot *slot, xsStringValue value);
void fxSetAt(xsMachine *the, xsSlot *object, xsIdentifier id, xsSlot *value);
void fxGetAt(xsMachine *the, xsSlot *result, xsSlot *object, xsIdentifier id);
xsIntegerValue fxToInteger(xsMachine *the, xsSlot *slot);
xsNumberValue fxToNumber(xsMachine *the, xsSlot *slot);
xsBooleanValue fxToBoolean(xsMachine *the, xsSlot *slot);
void fxGetArrayBufferData(xsMachine *the, xsSlot *slot, xsIntegerValue byteOffset, void *data, xsIntegerValue byteLength);
void fxSetArrayBufferData(xsMachine *the, xsSlot *slot, xsIntegerValue byteOffset, void *data, xsIntegerValue byteLength);
xsIntegerValue fxGetArrayBufferLength(xsMachine *the, xsSlot *slot);
xsStringValue fxToString(xsMachine *the, xsSlot *slot);

#define xsmcVars(_COUNT) fxVars(the, _COUNT)
#define xsmcSetNewObject(_SLOT) fxNewObject(the, &(_SLOT))
#define xsmcSetInteger(_SLOT, _VALUE) fxInteger(the, &(_SLOT), _VALUE)
#define xsmcSetNumber(_SLOT, _VALUE) fxNumber(the, &(_SLOT), _VALUE)
#define xsmcSetBoolean(_SLOT, _VALUE) fxBoolean(the, &(_SLOT), _VALUE)
#define xsmcSetString(_SLOT, _VALUE) fxString(the, &(_SLOT), _VALUE)
#define xsmcSet(_THIS, _ID, _SLOT) fxSetAt(the, &(_THIS), _ID, &(_SLOT))
#define xsmcGet(_SLOT, _THIS, _ID) fxGetAt(the, &(_SLOT), &(_THIS), _ID)
#define xsmcToInteger(_SLOT) fxToInteger(the, &(_SLOT))
#define xsmcToNumber(_SLOT) fxToNumber(the, &(_SLOT))
#define xsmcToBoolean(_SLOT) fxToBoolean(the, &(_SLOT))
#define xsmcGetArrayBufferData(_SLOT, _OFFSET, _BUFFER, _SIZE) fxGetArrayBufferData(the, &(_SLOT), _OFFSET, _BUFFER, _SIZE)
#define xsmcSetArrayBufferData(_SLOT, _OFFSET, _BUFFER, _SIZE) fxSetArrayBufferData(the, &(_SLOT), _OFFSET, _BUFFER, _SIZE)
#define xsmcGetArrayBufferLength(_SLOT) fxGetArrayBufferLength(the, &(_SLOT))
#define xsmcToString(_SLOT) fxToString(the, &(_SLOT))
