/*
 * echoargs prints the command line it was started with and the argv the C
 * runtime parsed from it, as one JSON object on one line:
 *
 *   {"cmdline":"<hex>","argv":["<hex>",...]}
 *
 * Every string is written as its UTF-16 code units, four hex digits each,
 * so nothing (quotes, NUL-free control characters, lone surrogates) is lost
 * or re-encoded on the way. The winquote tests build it with mingw-w64 and
 * run it under Wine as an independent judge of the quoting rules.
 */
#include <windows.h>
#include <stdio.h>
#include <io.h>
#include <fcntl.h>

static void put_hex(const wchar_t *s)
{
	putchar('"');
	for (; *s; s++)
		printf("%04x", (unsigned)*s);
	putchar('"');
}

int wmain(int argc, wchar_t **argv)
{
	int i;

	_setmode(_fileno(stdout), _O_BINARY);
	fputs("{\"cmdline\":", stdout);
	put_hex(GetCommandLineW());
	fputs(",\"argv\":[", stdout);
	for (i = 0; i < argc; i++) {
		if (i > 0)
			putchar(',');
		put_hex(argv[i]);
	}
	fputs("]}\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}
