module grove.local/e2e/pause

go 1.26
