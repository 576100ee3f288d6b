#include <stdio.h>
int main(int argc, char **argv) {
	for (int i = 0; i < argc; i++) {
		if (i > 0) putchar(' ');
		putchar('[');
		for (const unsigned char *p = (const unsigned char *)argv[i]; *p; p++) printf("%02x", *p);
		putchar(']');
	}
	putchar('\n');
	fflush(stdout);
	return 0;
}
