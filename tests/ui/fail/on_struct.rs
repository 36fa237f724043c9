use preallocate::preallocate;

#[preallocate(dim = 3, dtype = f32)]
struct Point {
    x: f32,
    y: f32,
    z: f32,
}

fn main() {
    let p = Point { x: 1.0, y: 2.0, z: 3.0 };
    let _ = (p.x, p.y, p.z);
}
