package sim

import "testing"

func TestJavaClasspath(t *testing.T) {
	t.Parallel()
	f, _ := progFleet(t, 2, `
  files:
    'C:\tools\report\lib\core.jar': "PK"
    'C:\tools\report\classes\com\example\Report.class': "cafebabe"
    'C:\tools\other\lib\a.jar': "PK"
host_settings:
  sim-0002:
    profile: 2008r2
`)
	const vmFailed = "Error: Could not create the Java Virtual Machine.\r\nError: A fatal exception has occurred. Program will exit.\r\n"
	const usage = "Usage: java [-options] class [args...]\r\n           (to execute a class)\r\n   or  java [-options] -jar jarfile [args...]\r\n           (to execute a jar file)\r\n"
	const heap = "Error occurred during initialization of VM\r\nCould not reserve enough space for object heap\r\n"
	const ran = "simulated JVM: com.example.Report ran with a "
	t.Run("2019", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[0], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "a class in a classes directory, its arguments one a line", command: `"C:\Program Files\Java\jre8\bin\java.exe" -Xmx512m -cp C:\tools\report\classes com.example.Report --title "a b" "100% done" ""`,
				stdout: ran + "512 MB heap\r\n--title\r\na b\r\n100% done\r\n\r\n"},
			{name: "a class the directory lacks", command: `java -cp C:\tools\report\classes com.example.Other`,
				stderr: "Error: Could not find or load main class com.example.Other\r\n", code: 1},
			{name: "missing entries are skipped and a jar holds any class", command: `java -cp C:\nope;C:\tools\other\lib\a.jar com.example.Other`,
				stdout: "simulated JVM: com.example.Other ran with a 256 MB heap\r\n"},
			{name: "dir\\* is every jar in dir", command: `java -cp "C:\tools\other\lib\*" x.Y`, stdout: "simulated JVM: x.Y ran with a 256 MB heap\r\n"},
			{name: "a wildcard over a directory without jars finds nothing", command: `java -cp C:\tools\report\classes\* com.example.Report`,
				stderr: "Error: Could not find or load main class com.example.Report\r\n", code: 1},
			{name: "entries are relative to the working directory", command: `cd C:\tools\report & java -cp lib\nope.jar;classes com.example.Report`,
				stdout: ran + "256 MB heap\r\n"},
			{name: "without -cp the classpath is the working directory", command: `cd C:\tools\report\classes & java com.example.Report`,
				stdout: ran + "256 MB heap\r\n"},
			{name: "or CLASSPATH", command: `set CLASSPATH=C:\tools\other\lib\a.jar& java x.Y`, stdout: "simulated JVM: x.Y ran with a 256 MB heap\r\n"},
			{name: "options after the main class are the program's", command: `java -classpath C:\tools\report\classes com.example.Report -Xmx9g -version`,
				stdout: ran + "256 MB heap\r\n-Xmx9g\r\n-version\r\n"},
			{name: "JAVA_TOOL_OPTIONS is announced and applies", command: `set JAVA_TOOL_OPTIONS=-Xmx128m& java -cp C:\tools\report\classes com.example.Report`,
				stdout: ran + "128 MB heap\r\n", stderr: "Picked up JAVA_TOOL_OPTIONS: -Xmx128m\r\n"},
			{name: "the command line's -Xmx wins over JAVA_TOOL_OPTIONS", command: `set JAVA_TOOL_OPTIONS=-Xmx128m& java -Xmx300m -cp C:\tools\report\classes com.example.Report`,
				stdout: ran + "300 MB heap\r\n", stderr: "Picked up JAVA_TOOL_OPTIONS: -Xmx128m\r\n"},
			{name: "-cp needs its classpath", command: `java -cp`, stderr: "Error: -cp requires class path specification\r\n" + usage, code: 1},
			{name: "an unknown option", command: `java -foo -cp C:\tools\report\classes com.example.Report`, stderr: "Unrecognized option: -foo\r\n" + vmFailed, code: 1},
			{name: "a bad heap size", command: `java -Xmx5xb -cp . A`, stderr: "Invalid maximum heap size: -Xmx5xb\r\n" + vmFailed, code: 1},
			{name: "no class", command: `java -Xmx64m`, stderr: usage, code: 1},
			{name: "-jar as before", command: `java -Xmx512m -jar app.jar`, stdout: "simulated JVM: app.jar ran with a 512 MB heap\r\n"},
			{name: "-version as before", command: `java -version`,
				stderr: "java version \"1.8.0_202\"\r\nJava(TM) SE Runtime Environment (build 1.8.0_202-b08)\r\nJava HotSpot(TM) 64-Bit Server VM (build 25.202-b08, mixed mode)\r\n"},
		})
	})
	t.Run("a 150 MB shell on 2008 R2", func(t *testing.T) {
		t.Parallel()
		c := mzClient(t, f, f.Hosts()[1], basicHTTP, "PT60S")
		runCases(t, c, []progCase{
			{name: "the heap does not fit, before any class is looked for", command: `java -Xmx512m -cp C:\nope com.example.Report`, stderr: heap, code: 1},
			{name: "a small heap fits", command: `java -Xmx64m -cp C:\tools\report\classes com.example.Report`, stdout: ran + "64 MB heap\r\n"},
			{name: "JAVA_TOOL_OPTIONS is announced before the VM fails", command: `set JAVA_TOOL_OPTIONS=-Xmx1g& java -cp C:\tools\report\classes com.example.Report`,
				stderr: "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\r\n" + heap, code: 1},
		})
	})
}
