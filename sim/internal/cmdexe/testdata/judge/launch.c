#include <windows.h>
#include <stdio.h>
#include <string.h>
static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
int main(int argc, char **argv) {
	FILE *f = fopen(argv[1], "rb");
	static char hex[20000], line[10000];
	if (!f) return 2;
	while (fgets(hex, sizeof hex, f)) {
		size_t n = strcspn(hex, "\r\n"), k = 0;
		for (size_t i = 0; i + 1 < n; i += 2) line[k++] = (char)(hexval(hex[i]) << 4 | hexval(hex[i + 1]));
		line[k] = 0;
		STARTUPINFOA si; PROCESS_INFORMATION pi;
		memset(&si, 0, sizeof si); si.cb = sizeof si;
		fflush(stdout);
		/* Wine, on a loaded machine, now and then fails to start a
		   process: try a few times before calling it an error. */
		BOOL ok = FALSE;
		for (int attempt = 0; attempt < 5 && !ok; attempt++) {
			if (attempt > 0) Sleep(200);
			ok = CreateProcessA(argv[2], line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
		}
		if (!ok) { printf("ERROR %lu\n", GetLastError()); continue; }
		WaitForSingleObject(pi.hProcess, INFINITE);
		CloseHandle(pi.hProcess); CloseHandle(pi.hThread);
	}
	return 0;
}
