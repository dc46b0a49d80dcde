/* Stub of the XS in C API (xs.h) for the native compile check (see ../../README.md). */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct xsMachineRecord xsMachine;
typedef struct { void *data[4]; } xsSlot;
typedef int16_t xsIdentifier;
typedef int32_t xsIntegerValue;
typedef double xsNumberValue;
typedef char xsBooleanValue;
typedef char *xsStringValue;

xsSlot *fxResult(xsMachine *the);
xsSlot *fxArgument(xsMachine *the, xsIntegerValue index);
xsSlot *fxVariable(xsMachine *the, xsIntegerValue index);
xsIntegerValue fxArgc(xsMachine *the);
void fxThrowMessage(xsMachine *the, const char *path, int line, int error, const char *format, ...);

#define xsResult (*fxResult(the))
#define xsArg(_INDEX) (*fxArgument(the, _INDEX))
#define xsVar(_INDEX) (*fxVariable(the, _INDEX))
#define xsArgc fxArgc(the)
#define xsUnknownError(...) fxThrowMessage(the, NULL, 0, 1, __VA_ARGS__)
#define xsTypeError(...) fxThrowMessage(the, NULL, 0, 5, __VA_ARGS__)
#define xsRangeError(...) fxThrowMessage(the, NULL, 0, 3, __VA_ARGS__)
