fn main() {
    println!("keyrelay: under construction");
}
