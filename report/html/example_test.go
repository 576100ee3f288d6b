package html_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/fleetrun/fleetrun/report/html"
)

// Render a saved JSON report, as `fleetrun report out.json --html out.html`
// does (writing through report.WriteFile rather than to a buffer).
func ExampleRender() {
	data, err := os.ReadFile("testdata/small.json")
	if err != nil {
		log.Fatal(err)
	}
	doc, err := html.ReadJSON(bytes.NewReader(data))
	if err != nil {
		log.Fatal(err)
	}
	var page strings.Builder
	if err := html.Render(&page, doc, html.Options{Source: "small.json"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.SplitN(page.String(), "\n", 2)[0])
	fmt.Println(strings.Count(page.String(), "<script"), "script elements, both the page's own")
	// Output:
	// <!DOCTYPE html>
	// 2 script elements, both the page's own
}
