/*
 * spawn starts the program named by its first argument once for every line
 * of standard input, handing it the line as its exact command line through
 * CreateProcessW. Each line is a command line written as UTF-16 code units,
 * four hex digits each. The child inherits standard output; spawn waits for
 * each child before reading the next line, so outputs arrive in order.
 *
 * This lets a test choose the child's command line byte for byte, with no
 * shell or Wine argument conversion in between.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE (1 << 20)

static int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	static char line[MAX_LINE];
	static wchar_t cmdline[MAX_LINE / 4 + 1];
	wchar_t app[MAX_PATH];

	if (argc != 2) {
		fprintf(stderr, "usage: spawn PROGRAM < hex-lines\n");
		return 2;
	}
	if (MultiByteToWideChar(CP_UTF8, 0, argv[1], -1, app, MAX_PATH) == 0) {
		fprintf(stderr, "spawn: bad program name\n");
		return 2;
	}
	while (fgets(line, sizeof line, stdin) != NULL) {
		size_t n = strcspn(line, "\r\n");
		size_t i, k = 0;
		STARTUPINFOW si;
		PROCESS_INFORMATION pi;
		DWORD code;

		if (n % 4 != 0) {
			fprintf(stderr, "spawn: line length %u is not a multiple of 4\n", (unsigned)n);
			return 2;
		}
		for (i = 0; i < n; i += 4) {
			int a = hex_digit(line[i]), b = hex_digit(line[i + 1]);
			int c = hex_digit(line[i + 2]), d = hex_digit(line[i + 3]);
			if (a < 0 || b < 0 || c < 0 || d < 0) {
				fprintf(stderr, "spawn: bad hex at offset %u\n", (unsigned)i);
				return 2;
			}
			cmdline[k++] = (wchar_t)(a << 12 | b << 8 | c << 4 | d);
		}
		cmdline[k] = 0;

		memset(&si, 0, sizeof si);
		si.cb = sizeof si;
		si.dwFlags = STARTF_USESTDHANDLES;
		si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
		si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
		si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
		fflush(stdout);
		/* Wine, on a loaded machine, now and then fails to start a
		   process: try a few times before calling it an error. */
		{
			int attempt;
			BOOL ok = FALSE;
			for (attempt = 0; attempt < 5 && !ok; attempt++) {
				if (attempt > 0)
					Sleep(200);
				ok = CreateProcessW(app, cmdline, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi);
			}
			if (!ok) {
				fprintf(stderr, "spawn: CreateProcessW failed: error %lu\n", GetLastError());
				return 1;
			}
		}
		WaitForSingleObject(pi.hProcess, INFINITE);
		if (!GetExitCodeProcess(pi.hProcess, &code) || code != 0) {
			fprintf(stderr, "spawn: child exited with %lu\n", code);
			return 1;
		}
		CloseHandle(pi.hThread);
		CloseHandle(pi.hProcess);
	}
	return 0;
}
