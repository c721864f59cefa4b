/*
 * bcryptprimitives.dll for Wine 8 (Debian 12): Go 1.24+ on Windows requires
 * ProcessPrng from bcryptprimitives.dll, which Wine 8 lacks. This stand-in
 * fills the buffer with RtlGenRandom (advapi32 SystemFunction036), which Wine
 * has. Built by service/wine_test.go with x86_64-w64-mingw32-gcc; test use only.
 */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n)) return FALSE;
		data += n; len -= n;
	}
	return TRUE;
}
