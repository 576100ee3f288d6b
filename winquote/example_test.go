package winquote

import (
	"errors"
	"fmt"
)

func ExampleCommandLine() {
	line, err := CommandLine(`C:\Program Files\App\app.exe`,
		[]string{"two words", `C:\Temp\`, "", `say "hi"`, "lib\\a.jar;lib\\b.jar"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(line)
	// Output:
	// "C:\Program Files\App\app.exe" "two words" C:\Temp\ "" "say \"hi\"" lib\a.jar;lib\b.jar
}

func ExampleSplitCommandLine() {
	for _, arg := range SplitCommandLine(`"C:\Program Files\App\app.exe" "two words" a\\\"b "C:\Temp\\" ""`) {
		fmt.Printf("[%s]\n", arg)
	}
	// Output:
	// [C:\Program Files\App\app.exe]
	// [two words]
	// [a\"b]
	// [C:\Temp\]
	// []
}

func ExampleCheckArgvProgram() {
	err := CheckArgvProgram(`C:\scripts\deploy.cmd`)
	fmt.Println(errors.Is(err, ErrBatchFile))
	// Output:
	// true
}

func ExamplePSSingleQuote() {
	fmt.Println(PSSingleQuote("it's $HOME"))
	// Output:
	// 'it''s $HOME'
}

func ExampleEncodeCommand() {
	fmt.Println(EncodeCommand("exit 3"))
	// Output:
	// ZQB4AGkAdAAgADMA
}

func ExampleWinrmSetMemoryCapCommands() {
	cmdLine, psLine := WinrmSetMemoryCapCommands(1024)
	fmt.Println(cmdLine)
	fmt.Println(psLine)
	// Output:
	// winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}
	// winrm set winrm/config/winrs '@{MaxMemoryPerShellMB="1024"}'
}
