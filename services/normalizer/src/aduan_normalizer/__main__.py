from aduan_normalizer.main import main

main()
